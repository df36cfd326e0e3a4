"""The account statement: how a balance in one currency came about over a period.

Every figure comes from the documents `check_balances` recomputes balances from: invoices and
their allocations. What moves the account's balance is a charge (+ its total), a credit
(its total, negative), a payment applied to charges (- the amount) and a refund, which is
shown as the two things it is: the Refund document (its total, negative) and the money
returned (+ the same amount), so it leaves the balance as it was. Credit applied to a charge
moves nothing: it is already counted when the credit is issued.

A payment belongs to the payments app, which invoices may not import: its allocations are
read here and the app above names them through `hooks.statement_payment_refs` (one query).

A payment's allocation counts on the day it was made (never before its invoice's date); a
credit's on the date of the later of the credit and the charge, since credit is applied only
when one of the two is issued, in that same transaction.
Each function costs a fixed number of queries, however many invoices the period holds.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import TypedDict

from django.db.models import (
    Case,
    DateField,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import WithAnnotations

from accounts.models import Account

from .hooks import PaymentRef, statement_payment_refs
from .models import Allocation, Invoice
from .money import format_money, round_money

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
AMOUNT = DecimalField(max_digits=18, decimal_places=3)
ZERO = Value(Decimal(0), output_field=AMOUNT)


class EntryKind(StrEnum):
    CHARGE = "charge"
    CREDIT = "credit"
    REFUND = "refund"
    REFUND_PAID = "refund_paid"
    PAYMENT = "payment"


@dataclass
class Entry:
    """One line of the statement: what happened on `day` and how it moved the balance."""

    day: date
    kind: EntryKind
    reference: str
    description: str
    amount: Decimal
    balance: Decimal = Decimal(0)
    invoice_id: int | None = None
    url: str = ""
    # Orders the lines of one day: in the order they were recorded.
    order: tuple[datetime | None, int] = (None, 0)
    # As printed, in the active language (`present_statement`).
    day_text: str = ""
    charge_text: str = ""
    credit_text: str = ""
    balance_text: str = ""

    @property
    def charge(self) -> Decimal | None:
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        return -self.amount if self.amount < 0 else None


class AgingBucket(StrEnum):
    CURRENT = "current"
    DAYS_1_30 = "1_30"
    DAYS_31_60 = "31_60"
    DAYS_61_90 = "61_90"
    OVER_90 = "over_90"


AGING_LABELS = {
    AgingBucket.CURRENT: gettext_lazy("Current"),
    AgingBucket.DAYS_1_30: gettext_lazy("1–30 days past due"),
    AgingBucket.DAYS_31_60: gettext_lazy("31–60 days past due"),
    AgingBucket.DAYS_61_90: gettext_lazy("61–90 days past due"),
    AgingBucket.OVER_90: gettext_lazy("Over 90 days past due"),
}


def aging_bucket(days_past_due: int) -> AgingBucket:
    if days_past_due <= 0:
        return AgingBucket.CURRENT
    if days_past_due <= 30:
        return AgingBucket.DAYS_1_30
    if days_past_due <= 60:
        return AgingBucket.DAYS_31_60
    if days_past_due <= 90:
        return AgingBucket.DAYS_61_90
    return AgingBucket.OVER_90


@dataclass
class OpenInvoice:
    """A charge with something still owed on it at the statement's end date."""

    invoice_id: int
    number: str
    issue_date: date
    due_date: date
    total: Decimal
    open_amount: Decimal
    days_past_due: int
    bucket: AgingBucket


@dataclass
class AgingLine:
    bucket: AgingBucket
    amount: Decimal

    @property
    def label(self) -> str:
        return str(AGING_LABELS[self.bucket])


@dataclass
class Statement:
    account: Account
    currency: str
    start: date
    end: date
    opening_balance: Decimal
    entries: list[Entry]
    closing_balance: Decimal
    open_invoices: list[OpenInvoice] = field(default_factory=list)
    aging: list[AgingLine] = field(default_factory=list)
    unapplied_credit: Decimal = Decimal(0)

    @property
    def total_open(self) -> Decimal:
        return round_money(sum((line.amount for line in self.aging), Decimal(0)), self.currency)

    @property
    def total_charges(self) -> Decimal:
        return round_money(sum((e.charge or 0 for e in self.entries), Decimal(0)), self.currency)

    @property
    def total_credits(self) -> Decimal:
        return round_money(sum((e.credit or 0 for e in self.entries), Decimal(0)), self.currency)

    def digest(self, language: str, version: str = "") -> str:
        """What a rendering of this statement depends on: a PDF whose digest matches is it."""
        parts = [
            version,
            language,
            str(self.account.pk),
            self.currency,
            self.start.isoformat(),
            self.end.isoformat(),
            str(self.opening_balance),
            str(self.closing_balance),
            str(self.unapplied_credit),
        ]
        parts += [f"{e.day}:{e.kind}:{e.reference}:{e.amount}" for e in self.entries]
        parts += [f"{o.number}:{o.open_amount}" for o in self.open_invoices]
        return hashlib.sha256("|".join(parts).encode()).hexdigest()


# Queries ------------------------------------------------------------------------------------


def statement_currencies(account: Account) -> list[str]:
    """The currencies the account has invoices in, its own first (one query)."""
    found = set(
        Invoice.objects.filter(account=account).values_list("currency", flat=True).distinct()
    )
    found.add(account.currency)
    return sorted(found, key=lambda c: (c != account.currency, c))


class _Dated(TypedDict):
    day: date


def _allocations(account: Account, currency: str) -> QuerySet[WithAnnotations[Allocation, _Dated]]:
    """The account's allocations in `currency`, each with the day it counts on (`day`)."""
    return Allocation.objects.filter(invoice__account=account, currency=currency).annotate(
        day=Case(
            When(
                source=Allocation.Source.CREDIT,
                then=Greatest(F("invoice__issue_date"), F("credit__issue_date")),
            ),
            default=Greatest(TruncDate("created_at"), F("invoice__issue_date")),
            output_field=DateField(),
        )
    )


def _invoices(account: Account, currency: str) -> QuerySet[Invoice]:
    return Invoice.objects.filter(account=account, currency=currency)


def _opening(account: Account, currency: str, start: date) -> Decimal:
    """The balance at the start of `start`: charges and credits issued before it, less the
    payments applied before it (two queries)."""
    issued = _invoices(account, currency).filter(
        issue_date__lt=start, type__in=[*Invoice.CHARGE_TYPES, Invoice.Type.CREDIT]
    )
    documents = issued.aggregate(total=Coalesce(Sum("total"), ZERO))["total"]
    paid = (
        _allocations(account, currency)
        .filter(source=Allocation.Source.PAYMENT, day__lt=start)
        .aggregate(total=Coalesce(Sum("amount"), ZERO))["total"]
    )
    return round_money(documents - paid, currency)


def _document_entries(account: Account, currency: str, start: date, end: date) -> list[Entry]:
    rows = (
        _invoices(account, currency)
        .filter(issue_date__gte=start, issue_date__lte=end)
        .values_list(
            "pk",
            "number",
            "type",
            "issue_date",
            "total",
            "reason",
            "refers_to__number",
            "created_at",
        )
        .order_by("issue_date", "pk")
    )
    # Translated once, not once a line.
    charge_text = {
        value: _("%(type)s invoice") % {"type": label} for value, label in Invoice.Type.choices
    }
    credit_text, refund_text = _("Credit against %(number)s"), _("Refund against %(number)s")
    returned_text = _("Money returned to you (refund %(number)s)")
    entries = []
    for pk, number, type_, issued, total, reason, refers, created in rows:
        if type_ in Invoice.CHARGE_TYPES:
            kind, description = EntryKind.CHARGE, charge_text[type_]
        elif type_ == Invoice.Type.CREDIT:
            kind, description = EntryKind.CREDIT, credit_text % {"number": refers}
        else:
            kind, description = EntryKind.REFUND, refund_text % {"number": refers}
        if reason:
            description = f"{description}: {reason}"
        amount = round_money(total, currency)
        entries.append(
            Entry(
                day=issued,
                kind=kind,
                reference=number,
                description=description,
                amount=amount,
                invoice_id=pk,
                order=(created, pk),
            )
        )
        if kind == EntryKind.REFUND:
            entries.append(
                Entry(
                    day=issued,
                    kind=EntryKind.REFUND_PAID,
                    reference=number,
                    description=returned_text % {"number": number},
                    amount=-amount,
                    invoice_id=pk,
                    order=(created, pk),
                )
            )
    return entries


def _payment_entries(account: Account, currency: str, start: date, end: date) -> list[Entry]:
    """One line per payment (its allocations in the period together), named by the app that
    owns payments; an allocation it does not know is a line of its own."""
    rows = list(
        _allocations(account, currency)
        .filter(source=Allocation.Source.PAYMENT, day__gte=start, day__lte=end)
        .values_list("pk", "day", "amount", "invoice__number", "created_at")
        .order_by("day", "pk")
    )
    refs = statement_payment_refs([pk for pk, *_rest in rows])
    grouped: dict[str, Entry] = {}
    paid_invoices: dict[str, list[str]] = {}
    for pk, day, amount, number, created in rows:
        ref = refs.get(pk) or PaymentRef(key=f"allocation:{pk}", label=_("Payment"), url="")
        entry = grouped.get(ref.key)
        if entry is None:
            entry = grouped[ref.key] = Entry(
                day=day,
                kind=EntryKind.PAYMENT,
                reference=ref.label,
                description="",
                amount=Decimal(0),
                url=ref.url,
                order=(created, pk),
            )
            paid_invoices[ref.key] = []
        entry.amount -= amount
        if number not in paid_invoices[ref.key]:
            paid_invoices[ref.key].append(number)
    for key, entry in grouped.items():
        entry.amount = round_money(entry.amount, currency)
        entry.description = _("Payment applied to %(numbers)s") % {
            "numbers": ", ".join(paid_invoices[key])
        }
    return list(grouped.values())


def _open_at(account: Account, currency: str, end: date) -> list[OpenInvoice]:
    """The charges issued by `end` with something owed at its close, oldest first: their
    total less what was applied to them by then (one query)."""
    applied = Subquery(
        _allocations(account, currency)
        .filter(invoice=OuterRef("pk"), day__lte=end)
        .values("invoice")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=AMOUNT,
    )
    applied_after = _allocations(account, currency).filter(invoice=OuterRef("pk"), day__gt=end)
    charges = (
        _invoices(account, currency)
        .filter(type__in=Invoice.CHARGE_TYPES, issue_date__lte=end)
        # Open now, or paid (partly) after the end: only those can be open at the end.
        .filter(Q(state=Invoice.State.OPEN) | Exists(applied_after))
        .annotate(applied=Coalesce(applied, ZERO))
        .values_list("pk", "number", "issue_date", "due_date", "total", "applied")
        .order_by("due_date", "pk")
    )
    found = []
    for pk, number, issued, due, total, paid in charges:
        owed = round_money(total - paid, currency)
        if owed <= 0:
            continue
        days = (end - due).days
        found.append(
            OpenInvoice(
                invoice_id=pk,
                number=number,
                issue_date=issued,
                due_date=due,
                total=round_money(total, currency),
                open_amount=owed,
                days_past_due=max(days, 0),
                bucket=aging_bucket(days),
            )
        )
    return found


def _unapplied_credit_at(account: Account, currency: str, end: date) -> Decimal:
    """Credit issued by `end` and not yet used on charges at its close, as a positive
    amount (one query)."""
    used = Subquery(
        _allocations(account, currency)
        .filter(credit=OuterRef("pk"), day__lte=end)
        .values("credit")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=AMOUNT,
    )
    left = (
        _invoices(account, currency)
        .filter(type=Invoice.Type.CREDIT, issue_date__lte=end)
        .annotate(left=F("total") + Coalesce(used, ZERO))
        .aggregate(total=Coalesce(Sum("left"), ZERO))["total"]
    )
    return round_money(-left, currency)


def account_statement(*, account: Account, currency: str, start: date, end: date) -> Statement:
    """The statement of `account` in `currency` from `start` to `end` (both included).

    The closing balance is the opening balance plus every line; at a date from today on it
    is the account's balance that `check_balances` recomputes. Raises ValueError when `end`
    is before `start`.
    """
    if end < start:
        raise ValueError("The statement's end is before its start.")
    opening = _opening(account, currency, start)
    entries = _document_entries(account, currency, start, end)
    entries += _payment_entries(account, currency, start, end)
    entries.sort(key=lambda e: (e.day, e.order[0] or _EPOCH, e.order[1]))
    running = opening
    for entry in entries:
        running += entry.amount
        entry.balance = round_money(running, currency)
    open_invoices = _open_at(account, currency, end)
    buckets = dict.fromkeys(AgingBucket, Decimal(0))
    for item in open_invoices:
        buckets[item.bucket] += item.open_amount
    return Statement(
        account=account,
        currency=currency,
        start=start,
        end=end,
        opening_balance=opening,
        entries=entries,
        closing_balance=round_money(running, currency),
        open_invoices=open_invoices,
        aging=[
            AgingLine(bucket, round_money(amount, currency)) for bucket, amount in buckets.items()
        ],
        unapplied_credit=_unapplied_credit_at(account, currency, end),
    )


def present_statement(statement: Statement, invoice_url: str = "") -> Statement:
    """Format every line's date and amounts once, in Python, in the active language (a
    ten-year statement has thousands of lines: template filters would cost seconds), and
    link each document line to `invoice_url` + its id."""
    currency = statement.currency
    days: dict[date, str] = {}
    for entry in statement.entries:
        text = days.get(entry.day)
        if text is None:
            text = days[entry.day] = date_format(entry.day, "DATE_FORMAT")
        entry.day_text = text
        charge, credit = entry.charge, entry.credit
        entry.charge_text = format_money(charge, currency) if charge is not None else ""
        entry.credit_text = format_money(credit, currency) if credit is not None else ""
        entry.balance_text = format_money(entry.balance, currency)
        if entry.invoice_id and invoice_url:
            entry.url = f"{invoice_url}{entry.invoice_id}/"
    return statement
