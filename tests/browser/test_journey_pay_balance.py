"""J4: pay the balance once, by card and with PayPal, in a real browser on the demo data."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from invoices.models import Invoice
from payments.models import Payment
from payments.selectors import amount_owed
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _money(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def test_pay_part_by_card_then_a_declined_card_changes_nothing(page: Page, demo: Account) -> None:
    owed = amount_owed(demo, "USD")
    oldest = (
        Invoice.objects.filter(account=demo, currency="USD", state=Invoice.State.OPEN)
        .order_by("issue_date", "pk")
        .first()
    )
    assert oldest is not None and owed > Decimal("25.00")
    part = min(Decimal("25.00"), oldest.balance)

    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/invoices/")
    page.get_by_role("link", name="Pay Balance").click()
    expect(page.get_by_role("heading", name="Payments", exact=True)).to_be_visible()
    expect(page.get_by_test_id("balance-USD")).to_have_text(_money(owed))
    expect(page.get_by_label("Payment Amount")).to_have_value(f"{owed}")
    assert_accessible(page)

    page.get_by_label("Payment Amount").fill(str(part))
    page.get_by_label("Use company information").check()
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay with Credit Card").click()

    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    expect(page.get_by_test_id("balance-after")).to_have_text(_money(owed - part))
    allocations = page.get_by_test_id("payment-allocations").locator("tbody tr")
    expect(allocations).to_have_count(1)
    expect(allocations.first).to_contain_text(oldest.number)
    expect(allocations.first).to_contain_text(_money(part))
    assert_accessible(page)

    # The billing summary shows the new balance at once.
    page.goto("/billing/invoices/")
    expect(page.get_by_test_id("current-balance-USD")).to_have_text(_money(owed - part))

    # A card with insufficient funds: the reason, the form again, nothing applied.
    page.goto("/payments/")
    page.get_by_label("Use company information").check()
    fill_card(page, "4000 0000 0000 9995")
    page.get_by_role("button", name="Pay with Credit Card").click()
    expect(page.get_by_test_id("payment-declined")).to_contain_text(
        "Your card has insufficient funds."
    )
    expect(page.get_by_role("button", name="Pay with Credit Card")).to_be_visible()
    expect(page.get_by_test_id("balance-USD")).to_have_text(_money(owed - part))
    assert_accessible(page)
    assert amount_owed(demo, "USD") == owed - part

    history = page.get_by_test_id("payment-history").locator("tbody tr")
    expect(history.filter(has_text="Declined").filter(has_text="9995")).to_have_count(1)
    expect(history.filter(has_text="Paid").filter(has_text=oldest.number)).to_have_count(1)


def test_cancel_at_paypal_then_pay_the_rest_with_paypal(page: Page, demo: Account) -> None:
    owed = amount_owed(demo, "USD")
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/payments/")

    page.get_by_role("button", name="PayPal").click()
    expect(page.get_by_role("heading", name="PayPal")).to_be_visible()
    expect(page.get_by_text(_money(owed))).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Cancel").click()

    expect(
        page.get_by_text("You cancelled the payment at PayPal. Nothing was charged.")
    ).to_be_visible()
    expect(page.get_by_test_id("balance-USD")).to_have_text(_money(owed))
    assert_accessible(page)
    assert Payment.objects.filter(state=Payment.State.CANCELLED).count() == 1

    page.get_by_role("button", name="PayPal").click()
    page.get_by_role("button", name="Approve").click()

    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    expect(page.get_by_test_id("payment-amount")).to_have_text(_money(owed))
    expect(page.get_by_test_id("balance-after")).to_have_text("$0.00")
    assert amount_owed(demo, "USD") == Decimal("0.00")
    page.goto("/payments/")
    expect(page.get_by_test_id("balance-USD")).to_have_count(0)
