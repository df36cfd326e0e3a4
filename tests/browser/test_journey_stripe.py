"""The card journeys with Stripe as the card processor (localstripe and its Stripe.js): a
card saved with the bank's challenge completed or failed, the balance paid once with and
without a challenge, and an automatic charge the bank wants the customer to confirm."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Account, User
from billing.models import AutoCharge
from billing.run import billing_run
from invoices.models import RecurringCharge
from payments.card_checks import BillingAddress
from payments.cards import (
    card_setup_start_for,
    payment_method_add,
    payment_method_approve,
    payment_method_set_monthly,
    payment_method_verify,
)
from payments.models import Payment, PaymentMethod
from payments.selectors import amount_owed
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in
from tests.payments.stripe_support import SECRET_KEY, WEBHOOK_SECRET, StripeBrowser

pytestmark = pytest.mark.django_db(transaction=True)


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def fill_stripe_card(page: Page, number: str, *, holder: str = "WANG XIAOMING") -> None:
    """Type a card into Stripe's card element (localstripe's: one field per part)."""
    page.get_by_label("Card holder").fill(holder)
    element = page.get_by_test_id("card-element")
    element.get_by_placeholder("number").fill(number.replace(" ", ""))
    element.get_by_placeholder("exp_month").fill("12")
    element.get_by_placeholder("exp_year").fill("30")
    element.get_by_placeholder("cvc").fill("123")


def bank_challenge(page: Page, *, complete: bool) -> None:
    """The bank's challenge Stripe.js shows (localstripe's stands for 3D Secure's)."""
    name = "Complete authentication" if complete else "Fail authentication"
    page.get_by_role("button", name=name).click()


@pytest.fixture
def stripe_demo(demo: Account, stripe_gateway: Any, settings: Any) -> Account:
    """The demo account, with Stripe as the card processor (and room for a few new cards:
    the demo already has some)."""
    settings.CARD_NEW_PER_WINDOW = 10
    return demo


class PortalRequests:
    """Every request the customer's browser sends to the portal (not to Stripe), and every
    page the portal answers with."""

    def __init__(self, page: Page, origin: str) -> None:
        self.bodies: list[str] = []
        self.pages: list[str] = []
        self._origin = origin
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Any) -> None:
        if request.url.startswith(self._origin):
            self.bodies.append(f"{request.url} {request.post_data or ''}")

    def _response(self, response: Any) -> None:
        content_type = response.headers.get("content-type") or ""
        if response.url.startswith(self._origin) and "text/html" in content_type:
            try:
                self.pages.append(response.text())
            except Exception:
                return


def assert_card_numbers_never_reached_the_portal(
    numbers: list[str], requests: PortalRequests, caplog: Any
) -> None:
    """Not in what the browser sent the portal, not in the database, not in the logs, not in
    an email, not on a page: Stripe's card element sends the card to Stripe only. Nor are
    the portal's Stripe secrets anywhere but in its settings."""
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    emails = [f"{m.subject} {m.body}" for m in mail.outbox]
    places = {
        "requests": " ".join(requests.bodies),
        "database": out.getvalue(),
        "logs": caplog.text,
        "emails": " ".join(emails),
        "pages": " ".join(requests.pages),
    }
    assert any("card_token=" in body for body in requests.bodies), "no card form was seen"
    assert requests.pages, "no page was seen"
    for number in [*numbers, SECRET_KEY, WEBHOOK_SECRET]:
        for where, text in places.items():
            assert number not in text, f"{number} reached the portal's {where}"
    # No security-code field in any form the browser sent the portal. (Not the bare letters
    # "cvc": the processor's random ids may hold them, pi_3QhfVVcvcdWsD8 was seen.)
    fields = re.findall(r'name="([^"]+)"|(?:^|[?&\s])([\w-]+)=', places["requests"])
    names = {multipart or encoded for multipart, encoded in fields}
    assert "card_token" in names
    assert not {name for name in names if re.search("cvc|cvv|security", name, re.IGNORECASE)}


def _card_row(page: Page, last4: str) -> Any:
    """The card just saved (the demo's own cards expire earlier)."""
    rows = page.get_by_test_id("card-table").locator("tbody tr")
    return rows.filter(has_text=f"•••• {last4}").filter(has_text="12/2030")


def test_cards_are_saved_with_stripe_and_the_banks_challenge(
    page: Page, stripe_demo: Account, live_server: Any, caplog: Any
) -> None:
    requests = PortalRequests(page, live_server.url)
    sign_in(page, "demo@example.com", "demo-pass-2026")

    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    page.get_by_label("Contact email").fill("cards@example.com")
    fill_stripe_card(page, "5555 5555 5555 4444")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(_card_row(page, "4444").get_by_test_id("card-state")).to_have_text("Pending")

    # A card whose bank asks for a challenge, completed: saved like any other.
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0025 0000 3155")
    page.get_by_role("button", name="Add Credit Card").click()
    bank_challenge(page, complete=True)
    expect(_card_row(page, "3155").get_by_test_id("card-state")).to_have_text("Pending")

    # Failed: rejected, with why.
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0027 6000 3184")
    page.get_by_role("button", name="Add Credit Card").click()
    bank_challenge(page, complete=False)
    rejected = _card_row(page, "3184")
    expect(rejected.get_by_test_id("card-state")).to_have_text("Rejected")
    expect(rejected).to_contain_text("not completed")

    # Declined by the bank.
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Add Credit Card").click()
    declined = _card_row(page, "0002")
    expect(declined.get_by_test_id("card-state")).to_have_text("Rejected")
    expect(declined).to_contain_text("Your card was declined.")

    saved = PaymentMethod.objects.filter(account=stripe_demo, gateway="stripe")
    assert sorted(saved.values_list("last4", "state")) == [
        ("0002", PaymentMethod.State.REJECTED),
        ("3155", PaymentMethod.State.AWAITING_APPROVAL),
        ("3184", PaymentMethod.State.REJECTED),
        ("4444", PaymentMethod.State.AWAITING_APPROVAL),
    ]
    assert_card_numbers_never_reached_the_portal(
        ["5555555555554444", "4000002500003155", "4000002760003184", "4000000000000002"],
        requests,
        caplog,
    )


def test_the_balance_is_paid_once_with_stripe(
    page: Page, stripe_demo: Account, live_server: Any, caplog: Any
) -> None:
    requests = PortalRequests(page, live_server.url)
    owed = amount_owed(stripe_demo, "USD")
    assert owed > Decimal("40.00")
    sign_in(page, "demo@example.com", "demo-pass-2026")

    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("25.00")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay with Credit Card").click()
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    expect(page.get_by_test_id("balance-after")).to_have_text(_money(owed - Decimal("25.00")))

    # The bank's challenge, completed: paid.
    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("10.00")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0027 6000 3184")
    page.get_by_role("button", name="Pay with Credit Card").click()
    bank_challenge(page, complete=True)
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )

    # Failed: nothing paid, and the reason.
    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("5.00")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0027 6000 3184")
    page.get_by_role("button", name="Pay with Credit Card").click()
    bank_challenge(page, complete=False)
    expect(page.get_by_test_id("payment-declined")).to_contain_text(
        "Your bank's confirmation of the payment was not completed."
    )

    # Declined.
    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("5.00")
    page.get_by_label("Use company information").check()
    fill_stripe_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay with Credit Card").click()
    expect(page.get_by_test_id("payment-declined")).to_contain_text("Your card was declined.")

    assert amount_owed(stripe_demo, "USD") == owed - Decimal("35.00")
    paid = Payment.objects.filter(account=stripe_demo, gateway="stripe")
    assert sorted(paid.values_list("amount", "state")) == [
        (Decimal("5.00"), Payment.State.DECLINED),
        (Decimal("5.00"), Payment.State.DECLINED),
        (Decimal("10.00"), Payment.State.SUCCEEDED),
        (Decimal("25.00"), Payment.State.SUCCEEDED),
    ]
    assert_card_numbers_never_reached_the_portal(
        ["4242424242424242", "4000002760003184", "4000000000000002"], requests, caplog
    )


def test_a_charge_the_bank_wants_confirmed_is_confirmed_by_the_customer(
    page: Page, stripe_demo: Account, stripe_browser: StripeBrowser
) -> None:
    customer = User.objects.get(email="demo@example.com")
    rep = User.objects.get(email="rep@example.com")
    setup = card_setup_start_for(account=stripe_demo)
    assert setup is not None
    method = payment_method_add(
        account=stripe_demo,
        by=customer,
        token=stripe_browser.confirm_setup(setup.client_secret, "4000002760003184"),
        address=BillingAddress.of_account(stripe_demo),
        contact_email="cards@example.com",
    )
    method = payment_method_approve(
        payment_method=payment_method_verify(payment_method_id=method.pk), by=rep
    )
    payment_method_set_monthly(payment_method=method, by=customer)
    RecurringCharge.objects.create(
        account=stripe_demo,
        description="Object Storage 10 TB",
        unit_price=Decimal("240.00"),
        starts_on=timezone.localdate(),
    )
    billing_run(day=timezone.localdate(), now=timezone.now())
    owed_before = amount_owed(stripe_demo, "USD")
    charge = AutoCharge.objects.get(account=stripe_demo)
    assert charge.state == AutoCharge.State.NEEDS_CONFIRMATION
    waiting_payment = Payment.objects.get(account=stripe_demo, state=Payment.State.REQUIRES_ACTION)

    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/payments/")
    waiting = page.get_by_test_id("failed-autocharges")
    expect(waiting).to_contain_text("confirm")
    waiting.get_by_role("link", name="Confirm the charge").click()
    expect(page.get_by_test_id("confirm-heading")).to_be_visible()
    expect(page.get_by_test_id("confirm-amount")).to_have_text(_money(waiting_payment.amount))
    assert_accessible(page)
    page.get_by_test_id("confirm-charge").click()
    bank_challenge(page, complete=True)
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert amount_owed(stripe_demo, "USD") == owed_before - waiting_payment.amount
