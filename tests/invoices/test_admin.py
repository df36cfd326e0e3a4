from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, AuditEntry, User
from invoices.models import Invoice
from tests.conftest import admin_login, grant

pytestmark = pytest.mark.django_db


@pytest.fixture
def rep_client(client: Client, rep: User) -> Client:
    grant(rep, "view_invoice", "add_invoice", "change_invoice")
    admin_login(client, rep)
    return client


def test_staff_issue_a_one_time_invoice_from_the_admin(
    rep_client: Client, rep: User, account: Account
) -> None:
    url = reverse("admin:invoices_invoice_issue_one_time")
    assert (
        "Issue a one-time invoice"
        in rep_client.get(reverse("admin:invoices_invoice_changelist")).content.decode()
    )
    response = rep_client.post(
        url,
        {
            "account": account.pk,
            "currency": "",
            "description": "Setup fee",
            "category": "Services",
            "quantity": "1",
            "unit_price": "250.00",
        },
    )
    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert invoice.type == Invoice.Type.ONE_TIME
    assert invoice.total == Decimal("250.00")
    assert invoice.issued_by == rep
    assert AuditEntry.objects.get(action="invoices.invoice.issued").actor == rep


def test_staff_credit_an_invoice_with_an_admin_action(
    rep_client: Client, account: Account, issue
) -> None:
    original = issue(account, "100.00")
    changelist = reverse("admin:invoices_invoice_changelist")
    form = rep_client.post(
        changelist, {"action": "issue_credit", "_selected_action": [original.pk]}
    )
    assert "Issue a credit against" in form.content.decode()
    response = rep_client.post(
        changelist,
        {
            "action": "issue_credit",
            "_selected_action": [original.pk],
            "apply": "1",
            "amount": "30.00",
            "reason": "SLA credit",
        },
    )
    assert response.status_code == 302
    credit = Invoice.objects.get(type=Invoice.Type.CREDIT)
    assert credit.refers_to == original
    original.refresh_from_db()
    assert original.balance == Decimal("70.00")


def test_a_credit_with_too_many_decimals_is_refused_in_the_admin(
    rep_client: Client, account: Account, issue
) -> None:
    original = issue(account, "100.00")
    response = rep_client.post(
        reverse("admin:invoices_invoice_changelist"),
        {
            "action": "issue_credit",
            "_selected_action": [original.pk],
            "apply": "1",
            "amount": "1.005",
            "reason": "x",
        },
    )
    assert "Too many decimal places for this currency." in response.content.decode()
    assert Invoice.objects.count() == 1


def test_issued_invoices_are_read_only_and_cannot_be_deleted(
    client: Client, account: Account, issue, django_user_model
) -> None:
    admin = django_user_model.objects.create_superuser("root@example.com", "pw-2026-long")
    admin_login(client, admin)
    invoice = issue(account, "100.00")
    change = client.get(reverse("admin:invoices_invoice_change", args=[invoice.pk]))
    assert change.status_code == 200
    assert 'name="total"' not in change.content.decode()
    delete = client.get(reverse("admin:invoices_invoice_delete", args=[invoice.pk]))
    assert delete.status_code == 403
    assert Invoice.objects.filter(pk=invoice.pk).exists()


def test_customers_cannot_reach_the_admin(owner_client: Client) -> None:
    response = owner_client.get(reverse("admin:invoices_invoice_changelist"))
    assert response.status_code == 302
