"""Read queries about what is owed and paid, shared by the payment services, the pages and
the apps above (the billing run)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Sum

from accounts.models import Account
from invoices.models import Invoice
from invoices.money import round_money

from .models import Payment, PaymentMethod


def amount_owed(account: Account, currency: str) -> Decimal:
    """What the account's open charges in `currency` still owe."""
    owed = Invoice.objects.filter(
        account=account, currency=currency, state=Invoice.State.OPEN
    ).aggregate(total=Sum("balance"))["total"]
    return round_money(owed or 0, currency)


def amounts_owed(account: Account) -> dict[str, Decimal]:
    """What the account owes in each currency it owes anything in, its own currency first."""
    rows = (
        Invoice.objects.filter(account=account, state=Invoice.State.OPEN)
        .values("currency")
        .annotate(total=Sum("balance"))
        .order_by("currency")
    )
    owed = {row["currency"]: round_money(row["total"], row["currency"]) for row in rows}
    return dict(sorted(owed.items(), key=lambda item: (item[0] != account.currency, item[0])))


def amount_in_flight(account: Account, currency: str) -> Decimal:
    """What payments still being processed (or pending) may yet pay in `currency`."""
    moving = Payment.objects.filter(
        account=account, currency=currency, state__in=Payment.IN_FLIGHT
    ).aggregate(total=Sum("amount"))["total"]
    return round_money(moving or 0, currency)


def amount_awaiting_confirmation(account: Account, currency: str) -> Decimal:
    """What automatic charges waiting for the customer's confirmation (asked by their bank)
    would pay in `currency`: part of `amount_in_flight`."""
    waiting = Payment.objects.filter(
        account=account,
        currency=currency,
        state=Payment.State.REQUIRES_ACTION,
        method=Payment.Method.CARD_ON_FILE,
    ).aggregate(total=Sum("amount"))["total"]
    return round_money(waiting or 0, currency)


def amount_payable(account: Account, currency: str) -> Decimal:
    """The most a new payment in `currency` may be: what is owed less what is being paid."""
    return max(amount_owed(account, currency) - amount_in_flight(account, currency), Decimal(0))


def payment_applied(payment: Payment) -> Decimal:
    """What a payment paid on invoices."""
    total = payment.allocations.aggregate(total=Sum("allocation__amount"))["total"]
    return round_money(total or 0, payment.currency)


def monthly_payment_method(account: Account) -> PaymentMethod | None:
    """The account's monthly card, if it has one."""
    return PaymentMethod.objects.filter(account=account, is_monthly=True).first()


def amounts_payable(account_ids: Sequence[int]) -> dict[tuple[int, str], Decimal]:
    """`amount_payable` of many accounts at once, by (account, currency): two queries."""
    owed = {
        (row["account_id"], row["currency"]): row["total"] or Decimal(0)
        for row in Invoice.objects.filter(account_id__in=account_ids, state=Invoice.State.OPEN)
        .values("account_id", "currency")
        .annotate(total=Sum("balance"))
        .order_by()
    }
    for row in (
        Payment.objects.filter(account_id__in=account_ids, state__in=Payment.IN_FLIGHT)
        .values("account_id", "currency")
        .annotate(total=Sum("amount"))
        .order_by()
    ):
        key = (row["account_id"], row["currency"])
        if key in owed:
            owed[key] -= row["total"] or Decimal(0)
    return {key: max(round_money(amount, key[1]), Decimal(0)) for key, amount in owed.items()}


def amounts_owed_of(account_ids: Sequence[int]) -> dict[tuple[int, str], Decimal]:
    """`amount_owed` of many accounts at once, by (account, currency): one query."""
    return {
        (row["account_id"], row["currency"]): round_money(row["total"] or 0, row["currency"])
        for row in Invoice.objects.filter(account_id__in=account_ids, state=Invoice.State.OPEN)
        .values("account_id", "currency")
        .annotate(total=Sum("balance"))
        .order_by()
    }
