"""Paying what the customer chose ("Pay selected" on the Invoices list, "Pay this invoice"):
the chosen invoices are read from the request, checked against the account, and recorded
on the payment when it is created. When the payment succeeds (`core._apply`) they are paid
first, in the order shown, and what is left goes to the oldest open invoices; an invoice paid
meanwhile is no longer open then and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from accounts.models import Account
from invoices.models import Invoice
from invoices.money import sum_money

from .errors import PaymentError

# More than a page of the Invoices list: anything longer is not a person's choice.
MAX_CHOSEN = 100


class ChosenInvoiceNotFound(PaymentError):
    """A chosen invoice id that is not one of the account's invoices (the page is a 404)."""


@dataclass(frozen=True)
class ChosenInvoices:
    """Open charges of one account in one currency, in the order the customer chose them."""

    invoices: list[Invoice]

    @property
    def ids(self) -> list[int]:
        return [invoice.pk for invoice in self.invoices]

    @property
    def currency(self) -> str:
        return self.invoices[0].currency

    @property
    def total(self) -> Decimal:
        """What the chosen invoices still owe together."""
        return sum_money((invoice.balance for invoice in self.invoices), self.currency)

    def as_field(self) -> str:
        """The ids as the payment forms carry them (a hidden field)."""
        return ",".join(str(pk) for pk in self.ids)


def _unreadable() -> PaymentError:
    return PaymentError(
        _("The chosen invoices could not be read. Choose them again on the Invoices page.")
    )


def chosen_ids_parse(values: Iterable[str]) -> list[int]:
    """The invoice ids of a request (`?invoice=3&invoice=7`, or the forms' "3,7"), in order
    and each once. Raises PaymentError for anything that is not a list of ids."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not part.isascii() or not part.isdigit() or len(part) > 12:
                raise _unreadable()
            pk = int(part)
            if pk <= 0:
                raise _unreadable()
            if pk not in ids:
                ids.append(pk)
    if len(ids) > MAX_CHOSEN:
        raise PaymentError(
            _("Choose at most %(count)s invoices to pay at once.") % {"count": MAX_CHOSEN}
        )
    return ids


def chosen_invoices_check(
    *, account: Account, ids: list[int], currency: str | None = None
) -> ChosenInvoices:
    """The chosen invoices, in the order of `ids`, if each is an open charge of `account`
    and all are in one currency (`currency`, when given). One query.

    Raises ChosenInvoiceNotFound for an id that is not the account's invoice, and
    PaymentError for an invoice with nothing owed (paid meanwhile, a credit, a refund), for
    invoices in different currencies, or for ones in a currency other than `currency`.
    """
    if not ids:
        raise _unreadable()
    found = {
        invoice.pk: invoice
        for invoice in Invoice.objects.filter(account=account, pk__in=ids).only(
            "pk",
            "number",
            "type",
            "state",
            "issue_date",
            "due_date",
            "currency",
            "total",
            "balance",
        )
    }
    if len(found) != len(ids):
        raise ChosenInvoiceNotFound(_("An invoice you chose is not an invoice of this account."))
    invoices = [found[pk] for pk in ids]
    for invoice in invoices:
        if not invoice.is_charge:
            raise PaymentError(
                _("Invoice %(number)s is not a charge: there is nothing to pay on it.")
                % {"number": invoice.number}
            )
        if invoice.state != Invoice.State.OPEN or invoice.balance <= 0:
            raise PaymentError(
                _("Invoice %(number)s is already paid. Choose invoices that are still open.")
                % {"number": invoice.number}
            )
    currencies = sorted({invoice.currency for invoice in invoices})
    if len(currencies) > 1:
        raise PaymentError(
            _(
                "The chosen invoices are in different currencies (%(currencies)s). "
                "Pay the invoices of one currency at a time."
            )
            % {"currencies": ", ".join(currencies)}
        )
    if currency is not None and currencies[0] != currency:
        raise PaymentError(
            _("The chosen invoices are in %(chosen)s, not %(currency)s.")
            % {"chosen": currencies[0], "currency": currency}
        )
    return ChosenInvoices(invoices)


def chosen_order(payment_chosen: object) -> list[int]:
    """The chosen invoice ids recorded on a payment, whatever the JSON holds."""
    if not isinstance(payment_chosen, list):
        return []
    return [pk for pk in payment_chosen if isinstance(pk, int) and not isinstance(pk, bool)]
