"""The payments side of the reconciliation: every amount applied "from a payment" belongs to
a payment that succeeded, no payment applies or refunds more than it took."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.db.models import F, Q, Sum
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
    settled_before = timezone.now() - timedelta(hours=1)
    for payment in payments.filter(
        state=Payment.State.SUCCEEDED, completed_at__lt=settled_before
    ).values("pk", "amount", "currency", "applied"):
        unapplied = payment["amount"] - (payment["applied"] or Decimal(0))
        given = PaymentRefund.objects.filter(
            payment_id=payment["pk"], state__in=PaymentRefund.COUNTED
        ).aggregate(total=Sum("amount"))["total"] or Decimal(0)
        if unapplied > given:
            problems.append(
                f"Payment {payment['pk']} has {unapplied - given} {payment['currency']} "
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
