"""The next invoice, previewed: what the billing run will issue on the next billing day.

There is no second copy of the pricing here. The preview runs the real run
(`recurring_run_account`) for the next billing day inside a transaction that is always rolled
back (pretix's `rolledback_transaction`), and keeps what it issued as plain values: items,
detail items, periods, tax and totals are exactly the run's, and nothing of it stays (no
invoice, no number used, no email, no PDF task, since tasks are sent only on commit).

The run locks the account and the number sequence for the few milliseconds it takes, as a
real run does, in the same order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import transaction

from accounts.models import Account

from .models import Invoice
from .money import round_money
from .presenters import Line, present_rows
from .selectors import invoice_item_rows
from .services import next_billing_date, recurring_run_account


class _Rollback(Exception):
    pass


@contextmanager
def rolledback_transaction() -> Iterator[None]:
    """A transaction (or savepoint) that is rolled back whatever happens inside it."""
    try:
        with transaction.atomic():
            yield
            raise _Rollback
    except _Rollback:
        pass


@dataclass
class PreviewInvoice:
    """One invoice the run would issue, as plain values (its rows no longer exist)."""

    type: str
    type_label: str
    issue_date: date
    due_date: date
    period_start: date | None
    period_end: date | None
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    # What would be left to pay once the account's available credit is applied.
    balance: Decimal
    lines: list[Line] = field(default_factory=list)


@dataclass
class NextInvoicePreview:
    day: date
    currency: str
    invoices: list[PreviewInvoice]

    @property
    def total(self) -> Decimal:
        return round_money(sum((i.total for i in self.invoices), Decimal(0)), self.currency)

    @property
    def credit_applied(self) -> Decimal:
        return round_money(
            sum((i.total - i.balance for i in self.invoices), Decimal(0)), self.currency
        )


def _captured(invoice: Invoice) -> PreviewInvoice:
    invoice.refresh_from_db(fields=["balance", "state"])
    return PreviewInvoice(
        type=invoice.type,
        type_label=str(invoice.get_type_display()),
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        balance=invoice.balance,
        lines=present_rows(invoice, invoice_item_rows(invoice)),
    )


def next_invoice_preview(*, account: Account, today: date) -> NextInvoicePreview:
    """The invoices the billing run would issue for `account` on its next billing day after
    `today`, in the active language; an empty list when nothing is due then. An estimate:
    charges may still change before that day."""
    day = next_billing_date(account, today)
    with rolledback_transaction():
        result = recurring_run_account(account=account, day=day)
        invoices = [_captured(invoice) for invoice in result.new + result.recurring]
    return NextInvoicePreview(day=day, currency=account.currency, invoices=invoices)
