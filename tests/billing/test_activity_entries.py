"""What the monthly cycle writes for the account's Activity page: automatic charges, their
declines and their retries, each with the invoice, the amount and when it is tried next."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest
from django.urls import reverse

from accounts.audit import describe_entry_detail
from accounts.models import Account, AuditEntry
from billing.models import AutoCharge
from invoices.models import Invoice, RecurringCharge
from payments.gateway import card_gateway
from payments.gateways.base import GatewayUnavailable
from tests.billing.clock import at, days, run

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db


def _entries(account: Account, action: str) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(account=account, action=action).order_by("pk"))


def test_a_declined_automatic_charge_and_its_retry_are_on_the_activity_page(
    account: Account, hosting: RecurringCharge, monthly, owner_client: Client
) -> None:
    monthly("4000000000000341")  # verifies, but every charge is declined
    for day in days(date(2026, 10, 1), date(2026, 10, 2)):
        run(day)
    invoice = Invoice.objects.get(type=Invoice.Type.NEW)
    charge = AutoCharge.objects.get(invoice=invoice)
    assert charge.attempts == 2

    started = _entries(account, "billing.autocharge.started")
    assert [e.data["attempt"] for e in started] == [1, 2]
    assert all(e.data["invoice"] == invoice.number for e in started)
    assert describe_entry_detail(started[0]) == f"Invoice {invoice.number} · $100.00"
    assert describe_entry_detail(started[1]) == f"Invoice {invoice.number} · $100.00 · retry 1"

    declined = _entries(account, "billing.autocharge.declined")
    assert len(declined) == 2
    assert declined[0].data["retry_at"] is not None
    detail = describe_entry_detail(declined[0])
    assert detail.startswith(f"Invoice {invoice.number} · Your card was declined.")
    assert "next try 2 Oct 2026" in detail

    html = owner_client.get(reverse("accounts:activity")).content.decode()
    assert "Automatic charge declined" in html and "retry 1" in html
    assert "The billing system" in html


def test_a_processing_error_records_the_retry_it_schedules(
    account: Account, hosting: RecurringCharge, monthly, monkeypatch, settings
) -> None:
    monthly("4242424242424242")

    def unavailable(**kwargs: object) -> object:
        raise GatewayUnavailable("connection refused")

    monkeypatch.setattr(card_gateway(), "charge", unavailable)
    run(date(2026, 10, 1))
    [entry] = _entries(account, "billing.autocharge.retry_scheduled")
    retry_at = at(date(2026, 10, 1)) + timedelta(minutes=settings.DUNNING_PROCESSING_RETRY_MINUTES)
    assert entry.data["retry_at"] == retry_at.isoformat()
    assert entry.actor is None
    assert "next try 1 Oct 2026" in describe_entry_detail(entry)
    assert not _entries(account, "billing.autocharge.declined")
