"""The payments side of the reconciliation: every amount applied "from a payment" belongs to
a payment that succeeded, no payment applies or refunds more than it took."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from invoices.models import Allocation

from .models import Payment, PaymentAllocation, PaymentRefund


def find_payment_mismatches() -> list[str]:
    """What does not reconcile between payments, their allocations and their refunds."""
    problems: list[str] = []
    orphans = Allocation.objects.filter(
        source=Allocation.Source.PAYMENT, payment_link__isnull=True
    ).values_list("pk", "invoice__number", "amount", "currency")
    for pk, number, amount, currency in orphans:
        problems.append(f"Allocation {pk} of {amount} {currency} to {number} comes from no payment")
    foreign = PaymentAllocation.objects.exclude(
        allocation__currency=F("payment__currency")
    ).values_list("payment_id", "allocation_id")
    for payment_id, allocation_id in foreign:
        problems.append(
            f"Payment {payment_id} applied another currency (allocation {allocation_id})"
        )
    payments = Payment.objects.annotate(applied=Sum("allocations__allocation__amount"))
    for payment in payments.values("pk", "state", "amount", "currency", "applied"):
        applied = payment["applied"] or Decimal(0)
        if payment["state"] != Payment.State.SUCCEEDED and applied:
            problems.append(f"Payment {payment['pk']} is {payment['state']} but applied {applied}")
        if applied > payment["amount"]:
            problems.append(
                f"Payment {payment['pk']} applied {applied} {payment['currency']}, "
                f"more than its {payment['amount']}"
            )
    # Money a payment could not apply is refunded by a worker soon after; an hour later it
    # must be refunded, or being refunded.
    given = Subquery(
        PaymentRefund.objects.filter(payment=OuterRef("pk"), state__in=PaymentRefund.COUNTED)
        .values("payment")
        .annotate(total=Sum("amount"))
        .values("total"),
        output_field=DecimalField(max_digits=18, decimal_places=3),
    )
    settled = payments.filter(
        state=Payment.State.SUCCEEDED, completed_at__lt=timezone.now() - timedelta(hours=1)
    ).annotate(given=Coalesce(given, Value(Decimal(0))))
    for done in settled.values("pk", "amount", "currency", "applied", "given"):
        unapplied = done["amount"] - (done["applied"] or Decimal(0))
        if unapplied > done["given"]:
            problems.append(
                f"Payment {done['pk']} has {unapplied - done['given']} {done['currency']} "
                "neither applied nor refunded"
            )
    refunded = Payment.objects.annotate(
        refunded=Sum("refunds__amount", filter=Q(refunds__state__in=PaymentRefund.COUNTED))
    ).filter(refunded__gt=0)
    for row in refunded.values("pk", "amount", "currency", "refunded"):
        if row["refunded"] > row["amount"]:
            problems.append(
                f"Payment {row['pk']} refunded {row['refunded']} {row['currency']}, "
                f"more than its {row['amount']}"
            )
    return problems
