"""Read queries of the invoices pages, each a fixed number of SQL queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account

from .models import Invoice, InvoiceItem, RecurringCharge
from .money import round_money, sum_money
from .services import next_billing_date
from .tax import MissingTaxRateError, account_buyer_facts, tax_decide, vat_breakdown

# The Invoices list's status filter: what is still owed, and what is owed past its due date.
UNPAID = "unpaid"
OVERDUE = "overdue"


def invoices_for_list(
    account: Account,
    *,
    types: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    status: str = "",
    number: str = "",
    today: date | None = None,
) -> QuerySet[Invoice]:
    """The account's invoices, newest first, with the list's filters: type, issue dates,
    status (UNPAID: open charges; OVERDUE: open charges past their due date on `today`)
    and a part of the invoice number."""
    invoices = Invoice.objects.filter(account=account).only(
        "pk",
        "number",
        "type",
        "state",
        "issue_date",
        "due_date",
        "currency",
        "total",
        "balance",
        "subtotal",
        "tax",
        "buyer_tax_id",
    )
    if types:
        invoices = invoices.filter(type__in=types)
    if date_from:
        invoices = invoices.filter(issue_date__gte=date_from)
    if date_to:
        invoices = invoices.filter(issue_date__lte=date_to)
    if status in (UNPAID, OVERDUE):
        invoices = invoices.filter(state=Invoice.State.OPEN)
    if status == OVERDUE:
        invoices = invoices.filter(due_date__lt=today or timezone.localdate())
    if number:
        invoices = invoices.filter(number__icontains=number)
    return invoices.order_by("-issue_date", "-pk")


@dataclass
class CurrencySummary:
    currency: str
    balance: Decimal = Decimal(0)
    # What the next Recurring invoice will charge, VAT included.
    next_charges: Decimal = Decimal(0)
    # What open charges past their due date still owe.
    overdue: Decimal = Decimal(0)
    # Unapplied credit (Credits with value left), as a positive amount; it is already part
    # of `balance` and pays the next charges.
    credit_available: Decimal = Decimal(0)

    @property
    def estimated_next_balance(self) -> Decimal:
        return round_money(self.balance + self.next_charges, self.currency)


@dataclass
class BillingSummary:
    currencies: list[CurrencySummary] = field(default_factory=list)
    previous_recurring_date: date | None = None
    next_recurring_date: date | None = None


def billing_summary(account: Account, today: date) -> BillingSummary:
    """Current and estimated next balance per currency, what of it is overdue (open charges
    past their due date on `today`), and the recurring invoice dates.

    The estimate adds what the next Recurring invoice will charge, VAT included, for the
    charges active on that day: the same amount the next-invoice preview (the real run,
    rolled back) shows. Balances of different currencies stay apart.
    """
    next_date = next_billing_date(account, today)
    per_currency: dict[str, CurrencySummary] = {}
    balances = (
        Invoice.objects.filter(account=account)
        .values("currency")
        .annotate(
            overdue=Sum("balance", filter=Q(state=Invoice.State.OPEN, due_date__lt=today)),
            # Before `balance`, which names the sum from here on.
            credit=Sum("balance", filter=Q(state=Invoice.State.CREDIT_AVAILABLE)),
            balance=Sum("balance"),
            last_recurring=Max("issue_date", filter=_recurring()),
        )
        .order_by("currency")
    )
    previous: date | None = None
    for row in balances:
        per_currency[row["currency"]] = CurrencySummary(
            currency=row["currency"],
            balance=round_money(row["balance"], row["currency"]),
            overdue=round_money(row["overdue"] or 0, row["currency"]),
            credit_available=round_money(-(row["credit"] or 0), row["currency"]),
        )
        if row["last_recurring"] and (previous is None or row["last_recurring"] > previous):
            previous = row["last_recurring"]

    # One query: a row per detail item, or one row for a charge without details. Each charge
    # is a line of the next invoice, priced as issuing prices it (each detail rounded).
    upcoming = (
        RecurringCharge.objects.filter(account=account)
        .active_on(next_date)
        .values_list("pk", "quantity", "unit_price", "details__quantity", "details__unit_price")
    )
    currency = account.currency
    lines: dict[int, Decimal] = {}
    for pk, quantity, unit_price, detail_quantity, detail_price in upcoming:
        if detail_price is not None:
            amount = round_money(detail_quantity * detail_price, currency)
        else:
            amount = round_money(quantity * unit_price, currency)
        lines[pk] = lines.get(pk, Decimal(0)) + amount
    next_total = _with_tax(account, next_date, list(lines.values())) if lines else Decimal(0)
    if next_total or currency in per_currency:
        summary = per_currency.setdefault(currency, CurrencySummary(currency=currency))
        summary.next_charges = next_total
    return BillingSummary(
        currencies=sorted(
            per_currency.values(), key=lambda s: (s.currency != currency, s.currency)
        ),
        previous_recurring_date=previous,
        next_recurring_date=next_date if next_total else None,
    )


def _with_tax(account: Account, next_date: date, amounts: list[Decimal]) -> Decimal:
    """The total with VAT of a Recurring invoice of these line amounts starting on
    `next_date`: the account's tax decision for the period's end (the tax point issuing
    uses), with the rates loaded once (two queries), and issuing's VAT arithmetic.

    The evidence the apps above add (the card's country) is left out: it is kept with an
    invoice but never changes its category or rate. When the rules need a rate the table
    lacks, the run would refuse to issue; the estimate then shows the charges without VAT
    rather than failing the page."""
    tax_point = next_billing_date(account, next_date) - timedelta(days=1)
    try:
        decision = tax_decide(buyer=account_buyer_facts(account), tax_point=tax_point)
    except MissingTaxRateError:
        return sum_money(amounts, account.currency)
    breakdown = vat_breakdown(
        lines=[(decision.category, decision.rate, amount) for amount in amounts],
        currency=account.currency,
    )
    return breakdown.total


def _recurring() -> Q:
    return Q(type=Invoice.Type.RECURRING)


@dataclass
class ItemRow:
    item: InvoiceItem
    details: list[InvoiceItem] = field(default_factory=list)


def invoice_item_rows(invoice: Invoice) -> list[ItemRow]:
    """The invoice's items with their detail items, from one query."""
    rows: dict[int, ItemRow] = {}
    ordered: list[ItemRow] = []
    for item in InvoiceItem.objects.filter(invoice=invoice).order_by("position"):
        if item.parent_id is None:
            row = ItemRow(item=item)
            rows[item.pk] = row
            ordered.append(row)
        else:
            rows[item.parent_id].details.append(item)
    return ordered


def invoice_related(invoice: Invoice) -> list[Invoice]:
    """The invoice it refers to and the invoices that refer to it, oldest first."""
    related = Invoice.objects.filter(Q(pk=invoice.refers_to_id) | Q(refers_to=invoice)).only(
        "pk", "number", "type", "issue_date", "currency", "total", "refers_to_id"
    )
    return list(related.order_by("issue_date", "pk"))


def invoice_item_row(invoice: Invoice, item_pk: int) -> ItemRow | None:
    """One top-level item of the invoice with its detail items, or None."""
    items = list(
        InvoiceItem.objects.filter(invoice=invoice)
        .filter(Q(pk=item_pk, parent__isnull=True) | Q(parent_id=item_pk))
        .order_by("position")
    )
    if not items or items[0].pk != item_pk:
        return None
    return ItemRow(item=items[0], details=items[1:])
