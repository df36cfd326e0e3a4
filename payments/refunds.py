"""Refunds of succeeded payments, by staff: through the gateway that took the payment, then a
Refund invoice for each invoice the money had paid.

As with charges, the refund is recorded and committed before the gateway is called, no lock
is held during the call, and an answer that never came is settled by asking again with the
same idempotency key (never by refunding again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import AuditAction, log_action
from accounts.models import User
from invoices.models import Invoice
from invoices.money import format_money, has_valid_precision, round_money, sum_money
from invoices.services import invoice_issue_refund

from .audit import (
    REFUND_FAILED,
    REFUND_PENDING,
    REFUND_STARTED,
    REFUND_SUCCEEDED,
    REFUND_UNDOCUMENTED,
)
from .core import attempt_start
from .errors import RefundError
from .gateway import (
    Unanswered,
    card_gateway,
    gateway_ask,
    gateway_call,
    gateway_for,
    paypal_gateway,
)
from .gateways.base import GatewayResult, Outcome
from .locks import payment_lock, refund_lock
from .models import GatewayAttempt, Payment, PaymentRefund

CORRECTIONS = (Invoice.Type.CREDIT, Invoice.Type.REFUND)

logger = logging.getLogger(__name__)

_RECORDED: dict[str, AuditAction] = {
    PaymentRefund.State.PENDING: REFUND_PENDING,
    PaymentRefund.State.SUCCEEDED: REFUND_SUCCEEDED,
    PaymentRefund.State.FAILED: REFUND_FAILED,
}


def _counted(payment: Payment, states: tuple[str, ...]) -> Decimal:
    given = payment.refunds.filter(state__in=states).aggregate(total=Sum("amount"))["total"]
    return round_money(given or 0, payment.currency)


def _returned_on(payment: Payment, invoice: Invoice) -> Decimal:
    """What Refund invoices of this payment already gave back on `invoice`."""
    return sum_money(
        (
            -doc.total
            for doc in Invoice.objects.filter(payment_refunds__payment=payment, refers_to=invoice)
        ),
        payment.currency,
    )


def _documentable(payment: Payment, link_amount: Decimal, invoice: Invoice) -> Decimal:
    """How much more of what this payment paid on `invoice` a Refund invoice may return:
    no more than it paid there, and never past what credits and refunds already gave back
    of the invoice (a refund on top of a credit would give the same money back twice)."""
    corrected = sum_money(
        (-doc.total for doc in invoice.corrections.filter(type__in=CORRECTIONS)),
        payment.currency,
    )
    paid_here: Decimal = link_amount - _returned_on(payment, invoice)
    left_of_total: Decimal = invoice.total - corrected
    return max(min(paid_here, left_of_total), Decimal(0))


def refundable(payment: Payment) -> Decimal:
    """What may still be refunded: the part the payment never applied, plus what it applied
    that a Refund invoice can still document, less refunds under way; never more than the
    payment less its refunds. A refund gives back the unapplied part first."""
    if payment.state != Payment.State.SUCCEEDED:
        return Decimal(0)
    links = list(payment.allocations.select_related("allocation__invoice"))
    applied = sum_money((link.allocation.amount for link in links), payment.currency)
    succeeded = _counted(payment, (PaymentRefund.State.SUCCEEDED,))
    under_way = _counted(payment, (PaymentRefund.State.PROCESSING, PaymentRefund.State.PENDING))
    unapplied = payment.amount - applied - (succeeded - _documented(payment))
    documentable = sum_money(
        (_documentable(payment, link.allocation.amount, link.allocation.invoice) for link in links),
        payment.currency,
    )
    left = min(payment.amount - succeeded - under_way, unapplied + documentable - under_way)
    return max(round_money(left, payment.currency), Decimal(0))


def _documented(payment: Payment) -> Decimal:
    """What Refund invoices of this payment's refunds returned, on all invoices."""
    return sum_money(
        (-doc.total for doc in Invoice.objects.filter(payment_refunds__payment=payment)),
        payment.currency,
    )


def refund_check(*, payment: Payment, amount: Decimal, reason: str) -> None:
    """Raise RefundError if refunding `amount` of `payment` now would be refused: for the
    confirmation page before anything is sent, and again by `payment_refund` under the lock."""
    if not reason.strip():
        raise RefundError(_("Give the reason for the refund."))
    if payment.state != Payment.State.SUCCEEDED:
        raise RefundError(_("Only a succeeded payment can be refunded."))
    if amount <= 0:
        raise RefundError(_("The amount must be greater than zero."))
    if not has_valid_precision(amount, payment.currency):
        raise RefundError(
            _("%(currency)s amounts have no more decimals than the currency.")
            % {"currency": payment.currency}
        )
    left = refundable(payment)
    if amount > left:
        raise RefundError(
            _("A refund cannot exceed what was paid and not yet refunded or credited (%(amount)s).")
            % {"amount": format_money(left, payment.currency)}
        )


def payment_refund(
    *, payment: Payment, amount: Decimal, reason: str, by: User | None, key: str
) -> PaymentRefund:
    """Refund `amount` of a succeeded payment through its gateway.

    The same `key` again returns the first refund (a double-clicked form refunds once).
    Never more than was captured less earlier refunds, nor more than can be documented.
    Raises RefundError for an amount that is zero, negative, has too many decimals or
    exceeds what is refundable, a payment that did not succeed, or a missing reason.
    Returns the refund: Refunded, Failed, or Processing/Pending (settled later).
    """
    if not reason.strip():
        raise RefundError(_("Give the reason for the refund."))
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        existing = PaymentRefund.objects.filter(key=key).first()
        if existing is not None:
            if existing.payment_id != payment.pk:
                raise RefundError(_("This form was already used. Reload the page and try again."))
            return existing
        refund_check(payment=payment, amount=amount, reason=reason)
        refund = PaymentRefund.objects.create(
            payment=payment,
            key=key,
            amount=amount,
            currency=payment.currency,
            reason=reason.strip()[:255],
            created_by=by,
        )
        attempt = attempt_start(
            key=f"refund:{refund.pk}",
            gateway=payment.gateway,
            kind=GatewayAttempt.Kind.REFUND,
            payment=payment,
            refund=refund,
        )
        log_action(
            REFUND_STARTED,
            obj=payment,
            account=payment.account,
            actor=by,
            amount=str(amount),
            currency=payment.currency,
            reason=refund.reason,
        )
    return _call(refund, attempt)


def payment_refund_unapplied(*, payment_id: int) -> PaymentRefund | None:
    """Give back what a succeeded payment could not apply (the balance was paid while it
    was processed). Safe to call again: one refund per payment."""
    payment = Payment.objects.get(pk=payment_id)
    if payment.state != Payment.State.SUCCEEDED:
        return None
    unapplied = payment.amount - sum_money(
        (link.allocation.amount for link in payment.allocations.select_related("allocation")),
        payment.currency,
    )
    key = f"unapplied:{payment.pk}"
    if unapplied <= 0 and not PaymentRefund.objects.filter(key=key).exists():
        return None
    # The reason is kept on the refund, a record of the account's: in the account's language.
    with translation.override(payment.account.language):
        reason = _("Not needed: the balance was already paid")
    return payment_refund(
        payment=payment,
        amount=unapplied,
        reason=reason,
        by=None,
        key=key,
    )


def _call(refund: PaymentRefund, attempt: GatewayAttempt) -> PaymentRefund:
    payment = refund.payment
    gateway = gateway_for(payment)
    # Unreached or unanswered alike: the settler asks (or sends again under the same key).
    result = gateway_call(
        attempt,
        lambda: gateway.refund(
            charge_reference=payment.reference,
            amount=refund.amount,
            currency=refund.currency,
            idempotency_key=attempt.idempotency_key,
        ),
        unreached="unknown",
    )
    if result is None:
        return PaymentRefund.objects.get(pk=refund.pk)
    return refund_record_outcome(refund_id=refund.pk, result=result)


def refund_record_outcome(*, refund_id: int, result: GatewayResult) -> PaymentRefund:
    """Record the gateway's answer to a refund once; a success issues the Refund invoices."""
    with transaction.atomic():
        payment, refund, attempt = refund_lock(refund_id)
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
            _RECORDED[refund.state],
            obj=payment,
            account=payment.account,
            actor=refund.created_by,
            amount=str(refund.amount),
            currency=payment.currency,
        )
    return refund


@dataclass(frozen=True)
class RefundPlan:
    """Where a refund's money comes from: the part the payment never applied (it owes no
    document), a Refund invoice for each invoice the rest had paid, the most recent first,
    and any part no document can hold."""

    unapplied: Decimal
    documents: list[tuple[Invoice, Decimal]]
    undocumented: Decimal


def _plan(payment: Payment, amount: Decimal, refunded_before: Decimal) -> RefundPlan:
    links = list(payment.allocations.select_related("allocation__invoice").order_by("-pk"))
    applied = sum_money((link.allocation.amount for link in links), payment.currency)
    # Unapplied money is given back first: it owes no document.
    unapplied = max(payment.amount - applied - (refunded_before - _documented(payment)), Decimal(0))
    unapplied = min(unapplied, amount)
    left = amount - unapplied
    documents: list[tuple[Invoice, Decimal]] = []
    planned: dict[int, Decimal] = {}  # what earlier documents of this plan give back there
    for link in links:
        if left <= 0:
            break
        invoice = link.allocation.invoice
        documentable = _documentable(payment, link.allocation.amount, invoice)
        part = min(left, documentable - planned.get(invoice.pk, Decimal(0)))
        if part <= 0:
            continue
        documents.append((invoice, part))
        planned[invoice.pk] = planned.get(invoice.pk, Decimal(0)) + part
        left -= part
    return RefundPlan(unapplied=unapplied, documents=documents, undocumented=max(left, Decimal(0)))


def refund_preview(*, payment: Payment, amount: Decimal) -> RefundPlan:
    """What refunding `amount` of `payment` now would do, for the confirmation page: the
    same plan the refund follows once the gateway has given the money back. Reads only."""
    return _plan(payment, amount, _counted(payment, (PaymentRefund.State.SUCCEEDED,)))


def _document(payment: Payment, refund: PaymentRefund) -> None:
    """A Refund invoice for each invoice the refunded money had paid (see `RefundPlan`)."""
    refunded_before = _counted(payment, (PaymentRefund.State.SUCCEEDED,)) - refund.amount
    plan = _plan(payment, refund.amount, refunded_before)
    for invoice, part in plan.documents:
        document = invoice_issue_refund(
            original=invoice,
            amount=part,
            reason=refund.reason,
            by=refund.created_by,
        )
        refund.documents.add(document)
    if plan.undocumented > 0:
        # Only possible if a credit was issued while the gateway refunded: the money went
        # back, so it is recorded, and staff are pointed at it.
        log_action(
            REFUND_UNDOCUMENTED,
            obj=payment,
            account=payment.account,
            amount=str(plan.undocumented),
        )


def refunds_settle(*, now: datetime) -> int:
    """Ask about refunds whose answer was lost or is pending: a card gateway by the refund's
    idempotency key, PayPal by the refund's id (or, if the request never got an answer, by
    sending it again with the same PayPal-Request-Id, which PayPal answers without acting
    twice). Returns how many refunds reached a final state."""
    quiet = now - timedelta(seconds=settings.PAYMENT_SETTLE_AFTER_SECONDS)
    settled = 0
    waiting = PaymentRefund.objects.filter(
        state__in=[PaymentRefund.State.PROCESSING, PaymentRefund.State.PENDING],
        created_at__lte=quiet,
    ).select_related("payment")
    for refund in waiting:
        try:
            refund = _settle(refund)
        except Exception:
            logger.exception("Settling refund %s failed.", refund.pk)
            continue
        settled += refund.state in (PaymentRefund.State.SUCCEEDED, PaymentRefund.State.FAILED)
    return settled


def refund_settle(*, reference: str) -> PaymentRefund | None:
    """The processor says a refund (or a payment's refunds) changed (a webhook): ask it about
    the refunds of ours still waiting for an answer."""
    waiting = PaymentRefund.objects.filter(
        Q(reference=reference) | Q(payment__reference=reference),
        state__in=[PaymentRefund.State.PROCESSING, PaymentRefund.State.PENDING],
    ).select_related("payment")
    settled = None
    for refund in waiting:
        settled = _settle(refund)
    return settled


def _settle(refund: PaymentRefund) -> PaymentRefund:
    attempt = GatewayAttempt.objects.get(refund=refund)
    payment = refund.payment
    answer: GatewayResult | None
    if payment.method != Payment.Method.PAYPAL:
        looked_up = gateway_ask(
            lambda: card_gateway().lookup_refund(
                idempotency_key=attempt.idempotency_key,
                charge_reference=payment.reference,
                reference=refund.reference,
            )
        )
        if isinstance(looked_up, Unanswered):
            return refund
        answer = looked_up or GatewayResult(outcome=Outcome.FAILED, message="Never received.")
    elif refund.reference:
        fetched = gateway_ask(
            lambda: paypal_gateway().get_refund(refund_reference=refund.reference)
        )
        if isinstance(fetched, Unanswered):
            return refund
        answer = fetched
    else:
        return _call(refund, attempt)
    return refund_record_outcome(refund_id=refund.pk, result=answer)
