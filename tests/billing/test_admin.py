"""The admin's view of the monthly cycle: dunning state per account, and waiving late fees."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from billing.models import AutoCharge, LateFee
from billing.run import billing_run
from invoices.models import Invoice, RecurringCharge
from tests.billing.clock import at, run
from tests.conftest import admin_login, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def overdue(account: Account) -> LateFee:
    """An account without a card, billed on 1 October and fined on 15 November."""
    RecurringCharge.objects.create(
        account=account,
        description="Virtual Server",
        unit_price=Decimal("100.00"),
        starts_on=date(2026, 10, 1),
    )
    billing_run(day=date(2026, 10, 1), now=at(date(2026, 10, 1)))
    billing_run(day=date(2026, 11, 15), now=at(date(2026, 11, 15)))
    return LateFee.objects.get()


def test_the_admin_shows_each_accounts_dunning_state(
    client: Client, rep: User, overdue: LateFee
) -> None:
    grant(rep, "view_autocharge")
    admin_login(client, rep)
    response = client.get(reverse("admin:billing_autocharge_changelist"))
    html = response.content.decode()
    assert response.status_code == 200
    charge = AutoCharge.objects.order_by("pk").first()
    assert charge is not None and charge.state == AutoCharge.State.NO_CARD
    assert "Waiting for a usable card" in html and charge.invoice.number in html


def test_staff_waive_a_late_fee_from_the_admin(client: Client, rep: User, overdue: LateFee) -> None:
    grant(rep, "view_latefee", "add_invoice", "view_invoice")
    admin_login(client, rep)
    response = client.post(
        reverse("admin:billing_latefee_changelist"),
        {"action": "waive", "_selected_action": [overdue.pk]},
        follow=True,
    )
    assert "Waived 1 late fee." in response.content.decode()
    overdue.refresh_from_db()
    assert overdue.waiver is not None
    assert overdue.waiver.type == Invoice.Type.CREDIT
    assert overdue.waiver.refers_to == overdue.fee_invoice


def test_waiving_needs_the_permission_to_issue_invoices(
    client: Client, rep: User, overdue: LateFee
) -> None:
    grant(rep, "view_latefee")
    admin_login(client, rep)
    client.post(
        reverse("admin:billing_latefee_changelist"),
        {"action": "waive", "_selected_action": [overdue.pk]},
    )
    overdue.refresh_from_db()
    assert overdue.waiver is None


def test_an_automatic_charge_shows_each_time_the_card_was_charged(
    client: Client, rep: User, account: Account, hosting: RecurringCharge, monthly
) -> None:
    monthly("4000000000000341")  # verifies, then every charge is declined
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    grant(rep, "view_autocharge")
    admin_login(client, rep)
    html = client.get(reverse("admin:billing_autocharge_change", args=[charge.pk])).content.decode()
    assert "Charges of the card on file" in html
    assert "Declined" in html and "$100.00" in html and "100.000" not in html
