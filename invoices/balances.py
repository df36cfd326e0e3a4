"""The reconciliation check: every stored balance equals what the documents say it is."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import Allocation, Invoice
from .money import totals_by_currency


@dataclass(frozen=True)
class Mismatch:
    invoice_id: int
    number: str
    account_id: int
    currency: str
    stored: Decimal
    recomputed: Decimal

    def __str__(self) -> str:
        return (
            f"Invoice {self.number} (account {self.account_id}): balance {self.stored} "
            f"{self.currency}, but its documents say {self.recomputed} {self.currency}"
        )


def _sum_of(field: str) -> Subquery:
    return Subquery(
        Allocation.objects.filter(**{field: OuterRef("pk")})
        .values(field)
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=DecimalField(max_digits=18, decimal_places=3),
    )


def _recomputed(invoices: QuerySet[Invoice]) -> Iterator[tuple[Mismatch, bool]]:
    """Each invoice with the balance its documents say (as a Mismatch record) and whether
    that differs from the stored balance.

    A charge owes its total less the credits and payments applied to it; a credit has its
    (negative) total plus what was used of it left; a refund owes nothing.
    """
    zero = Value(Decimal(0), output_field=DecimalField(max_digits=18, decimal_places=3))
    rows = invoices.annotate(
        applied_to=Coalesce(_sum_of("invoice"), zero),
        used_from=Coalesce(_sum_of("credit"), zero),
    ).values_list(
        "pk",
        "number",
        "account_id",
        "currency",
        "type",
        "total",
        "balance",
        "applied_to",
        "used_from",
    )
    for pk, number, account_id, currency, type_, total, balance, applied, used in rows:
        if type_ == Invoice.Type.REFUND:
            expected = Decimal(0)
        elif type_ == Invoice.Type.CREDIT:
            expected = total + used
        else:
            expected = total - applied
        yield Mismatch(pk, number, account_id, currency, balance, expected), balance != expected


def find_balance_mismatches() -> list[Mismatch]:
    """Every invoice whose stored balance differs from total less applied amounts."""
    return [row for row, differs in _recomputed(Invoice.objects.all()) if differs]


def recomputed_balances(account_id: int) -> dict[str, Decimal]:
    """The account's balance per currency as `check_balances` recomputes it from the
    documents (the sum of every invoice's recomputed balance), whatever is stored."""
    pairs = (
        (row.currency, row.recomputed)
        for row, _differs in _recomputed(Invoice.objects.filter(account_id=account_id))
    )
    return totals_by_currency(pairs)
