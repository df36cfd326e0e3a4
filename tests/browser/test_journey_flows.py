"""Issue 15's flows in a real browser: the language switch signed out and signed in,
switching account on an invoice, and the ways to pay past the card-testing limit."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account, Membership, User
from invoices.models import Invoice
from payments.models import Payment
from tests.browser.conftest import fill_card, sign_in
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _switch_language(page: Page, code: str) -> None:
    page.locator("#language").select_option(code)
    with page.expect_navigation():
        page.locator("#language-form button").click()


def test_switching_to_chinese_on_the_sign_in_page_then_signing_in_lands_in_chinese(
    page: Page, demo: Account
) -> None:
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    _switch_language(page, "zh-hans")

    # The same page, now in Chinese (not /login/?next=/i18n/setlang/).
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.get_by_role("heading", name="登录")).to_be_visible()

    page.get_by_label("电子邮件地址").fill("demo@example.com")
    page.locator("input[name=password]").fill("demo-pass-2026")
    page.get_by_role("button", name="登录").click()

    expect(page).to_have_url(re.compile(r"/billing/invoices/$"))
    expect(page.get_by_role("heading", name="发票", exact=True)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")

    # Signed in, back to English, on the same page.
    _switch_language(page, "en")
    expect(page).to_have_url(re.compile(r"/billing/invoices/$"))
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()


def test_the_language_switch_works_on_the_password_reset_pages(page: Page, demo: Account) -> None:
    page.goto("/password_reset/")
    _switch_language(page, "zh-hans")
    expect(page).to_have_url(re.compile(r"/password_reset/$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    _switch_language(page, "en")
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()

    # An old link to the switch, signed out then signed in, never loops.
    page.goto("/login/?next=/i18n/setlang/")
    sign_in_url = page.url
    page.get_by_label("Email address").fill("demo@example.com")
    page.get_by_label("Password").fill("demo-pass-2026")
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/billing/invoices/$"))
    assert "setlang" in sign_in_url


def test_switching_account_on_an_invoice_goes_to_the_other_accounts_invoices(
    page: Page, demo: Account
) -> None:
    user = User.objects.get(email="demo@example.com")
    other = Account.objects.get(memberships__user__email="other@example.com")
    MembershipFactory(user=user, account=other, role=Membership.Role.OWNER)
    invoice = Invoice.objects.filter(account=demo).order_by("pk").first()
    assert invoice is not None

    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto(f"/billing/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", name=re.compile(invoice.number))).to_be_visible()

    page.get_by_label("Account", exact=True).select_option(str(other.pk))
    page.get_by_role("button", name="Switch").click()

    expect(page).to_have_url(re.compile(r"/billing/invoices/$"))
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
    expect(page.get_by_test_id("account-name")).to_have_text("Northwind Hosting Ltd")

    # A payment's page too: the Payments page of the other account.
    page.get_by_label("Account", exact=True).select_option(str(demo.pk))
    page.get_by_role("button", name="Switch").click()
    payment = Payment.objects.filter(account=demo).order_by("pk").first()
    assert payment is not None
    page.goto(f"/payments/{payment.pk}/")
    page.get_by_label("Account", exact=True).select_option(str(other.pk))
    page.get_by_role("button", name="Switch").click()
    expect(page).to_have_url(re.compile(r"/payments/$"))
    expect(page.get_by_role("heading", name="Payments", exact=True)).to_be_visible()


def test_past_the_card_testing_limit_the_saved_card_and_paypal_still_pay(
    page: Page, demo: Account, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("10.00")
    page.get_by_label("Use company information").check()
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay with Credit Card").click()
    expect(page.get_by_test_id("payment-declined")).to_be_visible()

    page.get_by_label("Payment Amount").fill("10.00")
    page.get_by_label("Use company information").check()
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay with Credit Card").click()

    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()
    expect(page.get_by_test_id("too-many")).to_contain_text("Too many cards were tried")
    ways = page.get_by_role("region", name="Other ways to pay")
    expect(ways).to_contain_text("You can still pay $10.00 now")
    expect(ways.get_by_role("button", name="Pay with PayPal")).to_be_visible()

    ways.get_by_role("button", name="Pay with Visa •••• 4242").click()
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    paid = Payment.objects.filter(
        account=demo, method=Payment.Method.CARD_ON_FILE, created_by__email="demo@example.com"
    ).get()
    assert (paid.state, paid.amount) == (Payment.State.SUCCEEDED, Decimal("10.00"))


def test_past_the_card_testing_limit_paypal_pays(page: Page, demo: Account, settings) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(page.get_by_test_id("card-outcome")).to_contain_text("was not accepted")

    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_card(page, "5555 5555 5555 4444")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()

    page.get_by_role("region", name="Other ways to pay").get_by_role(
        "button", name="Pay with PayPal"
    ).click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
