"""What an invoice's state means to the customer today: Paid, Open, Overdue (with how many
days past its due date), Credit available, Credit used, Closed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.translation import ngettext

from .models import Invoice

OVERDUE = "overdue"


@dataclass(frozen=True)
class InvoiceStatus:
    # The invoice's state, or "overdue" for an open charge past its due date.
    key: str
    label: str
    days_overdue: int = 0

    @property
    def is_overdue(self) -> bool:
        return self.key == OVERDUE


def days_overdue(invoice: Invoice, today: date) -> int:
    """How many days an open charge is past its due date (0 if it is not)."""
    if invoice.state != Invoice.State.OPEN or not invoice.is_charge:
        return 0
    return max((today - invoice.due_date).days, 0)


def invoice_status(invoice: Invoice, today: date) -> InvoiceStatus:
    """The status the Invoices list shows, in the active language; no query."""
    days = days_overdue(invoice, today)
    if days:
        label = ngettext("Overdue · %(days)d day", "Overdue · %(days)d days", days) % {"days": days}
        return InvoiceStatus(OVERDUE, label, days)
    state = Invoice.State(invoice.state)
    return InvoiceStatus(str(state.value), str(state.label))
