"""Refunds of succeeded payments, by staff: through the gateway that took the payment, then a
Refund invoice for each invoice the money had paid.

As with charges, the refund is recorded and committed before the gateway is called, no lock
is held during the call, and an answer that never came is settled by asking again with the
same idempotency key (never by refunding again).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User, log_action
from invoices.models import Invoice
from invoices.money import has_valid_precision, round_money, sum_money
from invoices.services import invoice_issue_refund

from .checkout import PaymentError, _lock_payment
from .gateways import card_gateway, paypal_gateway
from .gateways.base import (
    CardGateway,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    Outcome,
    PayPalGateway,
)
from .models import GatewayAttempt, Payment, PaymentRefund

CORRECTIONS = (Invoice.Type.CREDIT, Invoice.Type.REFUND)


def _gateway(payment: Payment) -> CardGateway | PayPalGateway:
    return paypal_gateway() if payment.method == Payment.Method.PAYPAL else card_gateway()


def refundable(payment: Payment) -> Decimal:
    """What may still be refunded: the amount captured less refunds made or under way."""
    given = payment.refunds.filter(state__in=PaymentRefund.COUNTED).aggregate(total=Sum("amount"))[
        "total"
    ]
    return round_money(payment.amount - (given or 0), payment.currency)


def payment_refund(*, payment: Payment, amount: Decimal, reason: str, by: User) -> PaymentRefund:
    """Refund `amount` of a succeeded payment through its gateway.

    Never more than was captured, counting earlier refunds. Raises PaymentError for an
    amount that is zero, negative, has too many decimals or exceeds what is refundable, a
    payment that did not succeed, or a missing reason. Returns the refund: Refunded, Failed,
    or Processing when the gateway's answer was lost (settled later).
    """
    if not reason.strip():
        raise PaymentError(_("Give the reason for the refund."))
    with transaction.atomic():
        payment = _lock_payment(payment.pk)
        if payment.state != Payment.State.SUCCEEDED:
            raise PaymentError(_("Only a succeeded payment can be refunded."))
        if amount <= 0:
            raise PaymentError(_("The amount must be greater than zero."))
        if not has_valid_precision(amount, payment.currency):
            raise PaymentError(
                _("%(currency)s amounts have no more decimals than the currency.")
                % {"currency": payment.currency}
            )
        if amount > refundable(payment):
            raise PaymentError(_("A refund cannot exceed what was paid and not yet refunded."))
        refund = PaymentRefund.objects.create(
            payment=payment,
            amount=amount,
            currency=payment.currency,
            reason=reason.strip()[:255],
            created_by=by,
        )
        attempt = GatewayAttempt.objects.create(
            idempotency_key=f"refund:{refund.pk}",
            gateway=payment.gateway,
            kind=GatewayAttempt.Kind.REFUND,
            payment=payment,
            refund=refund,
        )
        log_action(
            "payments.refund.started",
            obj=payment,
            account=payment.account,
            actor=by,
            amount=str(amount),
            reason=refund.reason,
        )
    return _call(refund, attempt)


def _call(refund: PaymentRefund, attempt: GatewayAttempt) -> PaymentRefund:
    payment = refund.payment
    try:
        result = _gateway(payment).refund(
            charge_reference=payment.reference,
            amount=refund.amount,
            currency=refund.currency,
            idempotency_key=attempt.idempotency_key,
        )
    except (GatewayTimeout, GatewayUnavailable) as error:
        GatewayAttempt.objects.filter(pk=attempt.pk).update(
            status=GatewayAttempt.Status.UNKNOWN, message=str(error)[:255]
        )
        return PaymentRefund.objects.get(pk=refund.pk)
    return refund_record_outcome(refund_id=refund.pk, result=result)


def refund_record_outcome(*, refund_id: int, result: GatewayResult) -> PaymentRefund:
    """Record the gateway's answer to a refund once; a success issues the Refund invoices."""
    payment_id = PaymentRefund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    with transaction.atomic():
        payment = _lock_payment(payment_id)
        refund = PaymentRefund.objects.select_for_update().get(pk=refund_id)
        attempt = GatewayAttempt.objects.select_for_update().get(refund=refund)
        if refund.state not in (PaymentRefund.State.PROCESSING, PaymentRefund.State.PENDING):
            return refund
        attempt.reference = result.reference
        attempt.message = result.message[:255]
        if result.outcome == Outcome.PENDING:
            attempt.status = GatewayAttempt.Status.PENDING
            refund.state = PaymentRefund.State.PENDING
        elif result.outcome == Outcome.SUCCEEDED:
            attempt.status = GatewayAttempt.Status.SUCCEEDED
            refund.state = PaymentRefund.State.SUCCEEDED
        else:
            attempt.status = GatewayAttempt.Status.FAILED
            refund.state = PaymentRefund.State.FAILED
            refund.failure_message = result.message[:255]
        if refund.state != PaymentRefund.State.PENDING:
            attempt.completed_at = refund.completed_at = timezone.now()
        refund.reference = result.reference
        attempt.save()
        refund.save()
        if refund.state == PaymentRefund.State.SUCCEEDED:
            _document(payment, refund)
        log_action(
            f"payments.refund.{refund.state}",
            obj=payment,
            account=payment.account,
            actor=refund.created_by,
            amount=str(refund.amount),
        )
    return refund


def _document(payment: Payment, refund: PaymentRefund) -> None:
    """A Refund invoice for each invoice the refunded money had paid, the most recent first,
    each no more than this payment paid on it less what its earlier refunds returned. Money
    the payment never applied (it arrived after the balance was paid) needs no document."""
    left = refund.amount
    allocations = payment.allocations.select_related("allocation__invoice").order_by("-pk")
    for link in allocations:
        if left <= 0:
            break
        invoice = link.allocation.invoice
        returned = sum_money(
            (
                -doc.total
                for doc in Invoice.objects.filter(
                    payment_refunds__payment=payment, refers_to=invoice
                )
            ),
            payment.currency,
        )
        corrected = sum_money(
            (-doc.total for doc in invoice.corrections.filter(type__in=CORRECTIONS)),
            payment.currency,
        )
        part = min(left, link.allocation.amount - returned, invoice.total - corrected)
        if part <= 0:
            continue
        document = invoice_issue_refund(
            original=invoice, amount=part, reason=refund.reason, by=refund.created_by
        )
        refund.documents.add(document)
        left -= part


def refunds_settle() -> int:
    """Ask again, with the same key, about refunds whose answer was lost or is pending."""
    settled = 0
    waiting = PaymentRefund.objects.filter(
        state__in=[PaymentRefund.State.PROCESSING, PaymentRefund.State.PENDING]
    ).select_related("payment")
    for refund in waiting:
        attempt = GatewayAttempt.objects.get(refund=refund)
        if (
            attempt.status == GatewayAttempt.Status.STARTED
            and (timezone.now() - attempt.created_at).total_seconds() < 60
        ):
            continue
        refund = _call(refund, attempt)
        settled += refund.state in (PaymentRefund.State.SUCCEEDED, PaymentRefund.State.FAILED)
    return settled
