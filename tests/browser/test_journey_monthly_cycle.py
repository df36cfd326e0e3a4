"""J5 as the customer sees it: an automatic charge declined on the card on file shows on the
Payments page with what to do, and paying the balance once clears it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Account, User
from billing.models import AutoCharge
from billing.run import billing_run
from invoices.models import RecurringCharge
from payments.cards import payment_method_approve, payment_method_set_monthly
from payments.selectors import amount_owed
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def declined(demo: Account, add_card) -> Account:
    """The demo account, whose monthly card now declines, billed for a new server today."""
    customer = User.objects.get(email="demo@example.com")
    rep = User.objects.get(email="rep@example.com")
    method = payment_method_approve(
        payment_method=add_card(demo, customer, "4000000000000341"), by=rep
    )
    payment_method_set_monthly(payment_method=method, by=customer)
    RecurringCharge.objects.create(
        account=demo,
        description="Object Storage 10 TB",
        unit_price=Decimal("240.00"),
        starts_on=timezone.localdate(),
    )
    billing_run(day=timezone.localdate(), now=timezone.now())
    assert AutoCharge.objects.get(account=demo).declines == 1
    return demo


def test_a_declined_automatic_charge_shows_what_to_do_and_paying_once_clears_it(
    page: Page, declined: Account
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/payments/")

    trouble = page.get_by_test_id("failed-autocharges")
    expect(trouble).to_contain_text("Automatic charges that did not go through")
    expect(trouble).to_contain_text("Declined once: Your card was declined.")
    expect(
        trouble.get_by_role("link", name="add a card or choose another monthly card")
    ).to_be_visible()
    assert_accessible(page)

    page.get_by_role("button", name="PayPal").click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )

    page.goto("/payments/")
    expect(page.get_by_test_id("failed-autocharges")).to_have_count(0)
    assert amount_owed(declined, "USD") == Decimal("0.00")
    assert AutoCharge.objects.get(account=declined).state == AutoCharge.State.STOPPED
