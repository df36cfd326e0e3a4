"""The life of a payment, whatever its way in (a one-time card, PayPal, the card on file on
the billing day): lock, record the attempt, call the gateway, record the outcome exactly
once, apply the money to invoices, receipt; and settle an answer that was lost.

1. Under the account's lock (`locks.payment_lock`), the payment and its `GatewayAttempt`
   (with its idempotency key) are recorded and committed (`attempt_start`).
2. The gateway is called with no lock held, through `gateway.gateway_call`.
3. `payment_record_outcome` locks again and records the answer once: a success is applied
   to the open invoices (the invoice the payment was made for or the ones the customer
   chose first, then oldest first) and
   receipted in the same transaction; the apps above payments are told (`hooks`), which is
   how a monthly charge's outcome reaches its dunning (`billing.dunning`).
4. An attempt without a sure answer (a time-out, a pending capture) keeps its amount
   reserved, so the same balance cannot be paid twice, until `payments_settle` asks the
   gateway what happened; nothing is ever charged again to find out.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from accounts.audit import audit_entry, log_action, log_actions
from accounts.bulk import rows_update
from accounts.models import Account
from accounts.outbox import QueuedEmail, email_queue, emails_queue, render_email
from invoices.models import Allocation, Invoice
from invoices.services import invoice_apply_payment

from . import hooks
from .audit import (
    PAYMENT_DECLINED,
    PAYMENT_FAILED,
    PAYMENT_PENDING,
    PAYMENT_REQUIRES_ACTION,
    PAYMENT_SUCCEEDED,
    PAYMENT_SUCCEEDED_LATE,
    PAYMENT_UNAPPLIED,
)
from .chosen import chosen_order
from .gateway import Unanswered, card_gateway, gateway_ask
from .gateways.base import BrowserConfirmedCards, GatewayResult, Outcome
from .locks import attempt_lock, payment_lock
from .models import GatewayAttempt, Payment, PaymentAllocation, PaymentMethod, PaymentRefund
from .selectors import amount_owed, amounts_owed_of

logger = logging.getLogger(__name__)

__all__ = [
    "attempt_start",
    "new_key",
    "payment_record_outcome",
    "payment_settle_card",
    "payments_record_succeeded",
    "payments_settle",
]

# The attempts whose outcome is not recorded yet.
_OPEN_ATTEMPTS = (
    GatewayAttempt.Status.STARTED,
    GatewayAttempt.Status.UNKNOWN,
    GatewayAttempt.Status.PENDING,
)
_ATTEMPT_STATUS = {
    Outcome.SUCCEEDED: GatewayAttempt.Status.SUCCEEDED,
    Outcome.DECLINED: GatewayAttempt.Status.DECLINED,
    Outcome.FAILED: GatewayAttempt.Status.FAILED,
}


def new_key() -> str:
    """The idempotency key a payment form carries: one payment per key, however often sent."""
    return secrets.token_urlsafe(24)


def attempt_start(
    *,
    key: str,
    gateway: str,
    kind: GatewayAttempt.Kind,
    payment: Payment | None = None,
    payment_method: PaymentMethod | None = None,
    refund: PaymentRefund | None = None,
) -> GatewayAttempt:
    """Record a gateway call about to be made, in the caller's transaction (which commits
    before the call). The same key again gives the attempt already recorded: the call is
    then made again under the same key, which the gateway answers without acting twice."""
    attempt, _created = GatewayAttempt.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "gateway": gateway,
            "kind": kind,
            "payment": payment,
            "payment_method": payment_method,
            "refund": refund,
        },
    )
    return attempt


def attempt_keep_reference(*, attempt: GatewayAttempt, reference: str) -> None:
    """The gateway gave the call an id before it could move money: keep it (committed at
    once, with no lock held: the call is under way), so that whoever settles the call asks
    about that id."""
    GatewayAttempt.objects.filter(pk=attempt.pk, reference="").update(reference=reference)
    if attempt.payment_id is not None:
        Payment.objects.filter(pk=attempt.payment_id, reference="").update(reference=reference)
    attempt.reference = attempt.reference or reference


def payment_record_outcome(
    *, payment_id: int, attempt_id: int, result: GatewayResult, now: datetime | None = None
) -> Payment:
    """Record what the gateway answered and act on it, once: a success is applied to the
    open invoices and receipted, a decline or failure applies nothing, a pending answer keeps
    the amount reserved. The apps above payments are then told (`hooks.on_payment_outcome`:
    an automatic charge moves along its dunning schedule). An outcome already recorded is
    not recorded again. `now` is the clock of the dunning schedule."""
    now = now or timezone.now()
    with transaction.atomic():
        payment = payment_lock(payment_id)
        attempt = attempt_lock(attempt_id)
        late_success = (
            result.outcome == Outcome.SUCCEEDED
            and payment.state == Payment.State.FAILED
            and attempt.status in (GatewayAttempt.Status.FAILED, *_OPEN_ATTEMPTS)
        )
        if late_success:
            # A charge given up as never received did go through after all: the money moved,
            # so the payment counts (and staff can see it happened late).
            log_action(PAYMENT_SUCCEEDED_LATE, obj=payment, account=payment.account)
            attempt.status = GatewayAttempt.Status.UNKNOWN
            payment.state = Payment.State.PROCESSING
        elif attempt.status not in _OPEN_ATTEMPTS or payment.is_final:
            return payment
        attempt.reference = result.reference or attempt.reference
        attempt.decline = result.decline or ""
        attempt.message = result.message[:255]
        if result.card is not None and not payment.last4:
            # A card confirmed in the browser: the gateway says which one it was.
            payment.brand, payment.last4 = result.card.brand, result.card.last4
            payment.fingerprint = payment.fingerprint or result.card.fingerprint
            payment.save(update_fields=["brand", "last4", "fingerprint"])
        if result.outcome == Outcome.PENDING:
            _record_pending(payment, attempt, result)
        elif result.outcome == Outcome.REQUIRES_ACTION:
            _record_requires_action(payment, attempt, result)
        else:
            _record_final(payment, attempt, result)
        hooks.payment_outcome_recorded(payment, result, now)
    return payment


def _record_pending(payment: Payment, attempt: GatewayAttempt, result: GatewayResult) -> None:
    attempt.status = GatewayAttempt.Status.PENDING
    attempt.save()
    if payment.state != Payment.State.PENDING:
        payment.state = Payment.State.PENDING
        payment.reference = result.reference or payment.reference
        payment.save(update_fields=["state", "reference"])
        log_action(PAYMENT_PENDING, obj=payment, account=payment.account)


def _record_requires_action(
    payment: Payment, attempt: GatewayAttempt, result: GatewayResult
) -> None:
    """The bank asks the customer to confirm: nothing moved yet, the amount stays reserved."""
    attempt.status = GatewayAttempt.Status.PENDING
    attempt.save()
    if payment.state != Payment.State.REQUIRES_ACTION:
        payment.state = Payment.State.REQUIRES_ACTION
        payment.reference = result.reference or payment.reference
        payment.save(update_fields=["state", "reference"])
        log_action(PAYMENT_REQUIRES_ACTION, obj=payment, account=payment.account)


def _record_final(payment: Payment, attempt: GatewayAttempt, result: GatewayResult) -> None:
    completed_at = timezone.now()
    attempt.completed_at = completed_at
    attempt.status = _ATTEMPT_STATUS[result.outcome]
    attempt.save()
    payment.completed_at = completed_at
    if result.reference:
        payment.reference = result.reference
    if result.outcome == Outcome.SUCCEEDED:
        payment.state = Payment.State.SUCCEEDED
        payment.save(update_fields=["state", "reference", "completed_at"])
        _apply(payment)
        log_action(
            PAYMENT_SUCCEEDED,
            obj=payment,
            account=payment.account,
            actor=payment.created_by,
            **_payment_data(payment),
        )
        _send_receipt(payment)
        return
    declined = result.outcome == Outcome.DECLINED
    payment.state = Payment.State.DECLINED if declined else Payment.State.FAILED
    payment.decline_code = (result.decline or "generic") if declined else (result.decline or "")
    payment.failure_message = result.message[:255]
    payment.save(
        update_fields=["state", "reference", "completed_at", "decline_code", "failure_message"]
    )
    log_action(
        PAYMENT_DECLINED if declined else PAYMENT_FAILED,
        obj=payment,
        account=payment.account,
        actor=payment.created_by,
        decline=payment.decline_code,
        **_payment_data(payment),
    )


def _payment_data(payment: Payment) -> dict[str, str]:
    """What the audit trail keeps of a payment: how much, how, and at most the card's brand
    and last four digits (the Activity page shows them)."""
    return {
        "amount": str(payment.amount),
        "currency": payment.currency,
        "method": payment.method,
        "brand": payment.brand,
        "last4": payment.last4,
    }


def _apply(payment: Payment) -> None:
    """Apply a succeeded payment to the account's open invoices in its currency: the invoice
    it was made for first (`pay_first`), then the ones the customer chose, in the order
    shown (`chosen_invoices`), then oldest first; the caller holds the account's
    lock. Whatever is left over (the balance shrank while the gateway answered) is refunded
    by a worker after the commit."""
    # The account's lock serialises every payment of the account, so the open invoices are
    # read in the order they are paid and each is locked only when it is paid
    # (`invoice_apply_payment`): a payment costs the same however many invoices are open.
    # The chosen invoices are checked again here, under the lock: one paid meanwhile (or no
    # longer the account's, or in another currency) is simply not among the open ones.
    first = [payment.pay_first_id] if payment.pay_first_id else []
    ranked = [*first, *(pk for pk in chosen_order(payment.chosen_invoices) if pk not in first)]
    position = Case(
        *(When(pk=pk, then=Value(rank)) for rank, pk in enumerate(ranked)),
        default=Value(len(ranked)),
    )
    open_invoices = (
        Invoice.objects.filter(
            account=payment.account, currency=payment.currency, state=Invoice.State.OPEN
        )
        .annotate(position=position)
        .order_by("position", "issue_date", "pk")
    )
    left = payment.amount
    while left > 0:
        # Paid invoices leave the open ones, so each batch starts from the top again.
        batch = list(open_invoices[:20])
        if not batch:
            break
        for invoice in batch:
            if left <= 0:
                break
            part = min(left, invoice.balance)
            allocation = invoice_apply_payment(
                invoice=invoice, amount=part, currency=payment.currency
            )
            PaymentAllocation.objects.create(payment=payment, allocation=allocation)
            left -= part
    if left > 0:
        from .tasks import payment_refund_unapplied_task

        payment_refund_unapplied_task.delay(payment.pk)
        log_action(
            PAYMENT_UNAPPLIED,
            obj=payment,
            account=payment.account,
            amount=str(left),
            currency=payment.currency,
        )


def _send_receipt(payment: Payment) -> None:
    """The receipt, in the account's language with its PDF attached, through the outbox
    (same transaction)."""
    account = payment.account
    allocations = list(
        payment.allocations.select_related("allocation__invoice").order_by("allocation__pk")
    )
    recipients = set(account.billing_emails())
    if payment.created_by is not None:
        recipients.add(payment.created_by.email)
    context = {
        "payment": payment,
        "account": account,
        "lines": [(link.allocation.invoice.number, link.allocation.amount) for link in allocations],
        "balance": amount_owed(account, payment.currency),
        "url": settings.SITE_URL.rstrip("/") + reverse("payments:detail", args=[payment.pk]),
    }
    email_queue(
        key=f"payments.payment.receipt:{payment.pk}",
        account=account,
        to=sorted(recipients),
        email=render_email("payments/email/receipt", context, language=account.language),
        # Like the invoice's, the PDF is made when the email is sent (after this commits).
        attachments=[
            {"kind": "payments.receipt_pdf", "id": payment.pk, "language": account.language}
        ],
    )


# Settling what has no sure answer (a periodic task) ------------------------------------------


def payment_settle_card(*, payment: Payment, now: datetime | None = None) -> Payment:
    """Ask the card gateway what became of the payment's charge and record it."""
    attempt = payment.attempts.filter(kind=GatewayAttempt.Kind.CHARGE).order_by("pk").last()
    if attempt is None:
        return payment
    reference = attempt.reference or payment.reference
    credential = payment.payment_method.credential if payment.payment_method else ""
    answer = gateway_ask(
        lambda: card_gateway().lookup(
            idempotency_key=attempt.idempotency_key, reference=reference, credential=credential
        )
    )
    if isinstance(answer, Unanswered):
        return payment
    if answer is None:
        # The gateway never received the charge: nothing moved. Not a decline either: an
        # automatic charge is tried again soon.
        answer = GatewayResult(
            outcome=Outcome.FAILED, message="The gateway never received it.", retryable=True
        )
    if (
        answer.outcome == Outcome.DECLINED
        and payment.method == Payment.Method.CARD
        and not payment.is_final
    ):
        # Declined in the customer's browser: the processor keeps the intent open for another
        # card, which the page's secret could still confirm. Canceled first, then recorded.
        return payment_card_give_up(payment=payment, attempt=attempt, declined=answer, now=now)
    return payment_record_outcome(
        payment_id=payment.pk, attempt_id=attempt.pk, result=answer, now=now
    )


def payment_card_give_up(
    *,
    payment: Payment,
    attempt: GatewayAttempt,
    declined: GatewayResult,
    now: datetime | None = None,
) -> Payment:
    """Record that a card payment confirmed in the browser (or waiting for the customer to
    confirm it) did not go through, as `declined` says, once its intent at the processor is
    canceled, so that nothing can be taken later. If it was taken meanwhile (or is being
    taken), that is what is recorded; if the processor cannot be asked now, nothing is
    recorded yet (the settler asks again)."""
    gateway = card_gateway()
    if not isinstance(gateway, BrowserConfirmedCards) or not payment.reference:
        return payment_record_outcome(
            payment_id=payment.pk, attempt_id=attempt.pk, result=declined, now=now
        )
    answer = gateway_ask(lambda: gateway.card_payment_cancel(reference=payment.reference))
    if isinstance(answer, Unanswered) or answer.outcome == Outcome.REQUIRES_ACTION:
        return payment
    if answer.outcome in (Outcome.SUCCEEDED, Outcome.PENDING):
        return payment_record_outcome(
            payment_id=payment.pk, attempt_id=attempt.pk, result=answer, now=now
        )
    return payment_record_outcome(
        payment_id=payment.pk, attempt_id=attempt.pk, result=declined, now=now
    )


def payments_settle(*, now: datetime) -> int:
    """Ask the gateways what became of every payment without a final answer: charges that
    timed out or are pending, PayPal orders approved by a customer who never came back.
    A call still under way is left alone until it has had PAYMENT_SETTLE_AFTER_SECONDS to
    answer. Nothing is charged again; returns how many payments reached a final state."""
    quiet = now - timedelta(seconds=settings.PAYMENT_SETTLE_AFTER_SECONDS)
    open_payments = (
        Payment.objects.filter(
            Q(state__in=Payment.IN_FLIGHT) | Q(state=Payment.State.CREATED),
            created_at__lte=quiet,
        )
        # An automatic charge (made for its invoice: `pay_first`) waiting for the customer's
        # confirmation is followed by the billing app (it waits days, and is asked about
        # hourly), not every minute here; a customer's own payment with the card on file is.
        .exclude(
            state=Payment.State.REQUIRES_ACTION,
            method=Payment.Method.CARD_ON_FILE,
            pay_first__isnull=False,
        )
        .order_by("pk")
    )
    settled = 0
    for payment in open_payments:
        try:
            payment = _settle(payment, now=now, quiet=quiet)
        except Exception:
            # One payment's trouble must not keep the others unsettled.
            logger.exception("Settling payment %s failed.", payment.pk)
            continue
        settled += payment.is_final
    return settled


def _settle(payment: Payment, *, now: datetime, quiet: datetime) -> Payment:
    if payment.state == Payment.State.CREATED and not payment.order_id:
        # The order was never handed to the customer (the request died before): nobody can
        # approve it, so nothing can be taken.
        if payment.created_at <= now - timedelta(minutes=10):
            Payment.objects.filter(pk=payment.pk, state=Payment.State.CREATED).update(
                state=Payment.State.FAILED, failure_message="No order", completed_at=now
            )
            payment.refresh_from_db()
        return payment
    started = payment.attempts.filter(
        status=GatewayAttempt.Status.STARTED, created_at__gt=quiet
    ).exists()
    if started:
        return payment
    # One-time payments are settled by looking at what the customer did (one_time builds on
    # this module).
    from .one_time import payment_card_abandon, payment_paypal_sync

    if payment.method == Payment.Method.PAYPAL:
        return payment_paypal_sync(payment_id=payment.pk, now=now)
    payment = payment_settle_card(payment=payment, now=now)
    given_up = now - timedelta(minutes=settings.PAYMENT_CARD_CONFIRMATION_MINUTES)
    customers_own = payment.method == Payment.Method.CARD or (
        payment.method == Payment.Method.CARD_ON_FILE and payment.pay_first_id is None
    )
    if (
        customers_own
        and payment.state in (Payment.State.PROCESSING, Payment.State.REQUIRES_ACTION)
        and payment.created_at <= given_up
    ):
        # Never confirmed with the bank: the intent is canceled, so it can never be taken.
        return payment_card_abandon(payment=payment)
    return payment


# Successes of many card-on-file charges at once (the billing run) ------------------------------


def payments_record_succeeded(
    *, outcomes: Sequence[tuple[int, int, GatewayResult]], now: datetime | None = None
) -> list[tuple[int, int, GatewayResult]]:
    """`payment_record_outcome` for the plain successes among `outcomes` ((payment id,
    attempt id, answer)): payments still processing whose whole amount goes to the invoice
    they were made for, recorded in one transaction with one statement for each kind of row
    (the same rows, audit entries, receipts and hooks as one at a time). Returns the rest,
    untouched, for the caller to record one by one."""
    now = now or timezone.now()
    succeeded = [o for o in outcomes if o[2].outcome == Outcome.SUCCEEDED]
    rest = [o for o in outcomes if o[2].outcome != Outcome.SUCCEEDED]
    if not succeeded:
        return rest
    with transaction.atomic():
        ids = [payment_id for payment_id, _attempt, _result in succeeded]
        # The order of `locks`: the Accounts, the payments, their attempts, the invoices.
        account_ids = sorted(
            set(Payment.objects.filter(pk__in=ids).values_list("account_id", flat=True))
        )
        accounts = {
            a.pk: a
            for a in Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk")
        }
        payments = {
            p.pk: p for p in Payment.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        attempts = {
            a.pk: a
            for a in GatewayAttempt.objects.select_for_update()
            .filter(pk__in=[attempt for _p, attempt, _r in succeeded])
            .order_by("pk")
        }
        invoices = {
            i.pk: i
            for i in Invoice.objects.select_for_update()
            .filter(pk__in=[p.pay_first_id for p in payments.values() if p.pay_first_id])
            .order_by("pk")
        }
        plain: list[tuple[Payment, GatewayAttempt, GatewayResult, Invoice]] = []
        for payment_id, attempt_id, result in succeeded:
            payment, attempt = payments.get(payment_id), attempts.get(attempt_id)
            invoice = invoices.get(payment.pay_first_id or 0) if payment else None
            if (
                payment is None
                or attempt is None
                or invoice is None
                or payment.state != Payment.State.PROCESSING
                or attempt.status not in _OPEN_ATTEMPTS
                or attempt.payment_id != payment.pk
                or invoice.state != Invoice.State.OPEN
                or invoice.currency != payment.currency
                or invoice.balance < payment.amount
                or result.card is not None
            ):
                rest.append((payment_id, attempt_id, result))
                continue
            payment.account = accounts[payment.account_id]
            plain.append((payment, attempt, result, invoice))
        if plain:
            _record_succeeded_together(plain, now)
    return rest


def _record_succeeded_together(
    plain: list[tuple[Payment, GatewayAttempt, GatewayResult, Invoice]], now: datetime
) -> None:
    completed_at = timezone.now()
    allocations = []
    for payment, attempt, result, invoice in plain:
        attempt.status = GatewayAttempt.Status.SUCCEEDED
        attempt.reference = result.reference or attempt.reference
        attempt.decline = result.decline or ""
        attempt.message = result.message[:255]
        attempt.completed_at = completed_at
        payment.state = Payment.State.SUCCEEDED
        payment.reference = result.reference or payment.reference
        payment.completed_at = completed_at
        invoice.balance -= payment.amount
        invoice.state = Invoice.State.OPEN if invoice.balance > 0 else Invoice.State.PAID
        allocations.append(
            Allocation(
                invoice=invoice,
                source=Allocation.Source.PAYMENT,
                amount=payment.amount,
                currency=invoice.currency,
            )
        )
    rows_update(
        [attempt for _p, attempt, _r, _i in plain],
        ["status", "reference", "decline", "message", "completed_at"],
    )
    rows_update([payment for payment, *_rest in plain], ["state", "reference", "completed_at"])
    Invoice.objects.bulk_update([invoice for *_rest, invoice in plain], ["balance", "state"])
    allocations = Allocation.objects.bulk_create(allocations)
    PaymentAllocation.objects.bulk_create(
        [
            PaymentAllocation(payment=payment, allocation=allocation)
            for (payment, *_rest), allocation in zip(plain, allocations, strict=True)
        ]
    )
    log_actions(
        [
            audit_entry(
                PAYMENT_SUCCEEDED,
                obj=payment,
                account=payment.account,
                amount=str(payment.amount),
                currency=payment.currency,
            )
            for payment, *_rest in plain
        ]
    )
    _send_receipts(
        [(payment, [(invoice.number, payment.amount)]) for payment, _a, _r, invoice in plain]
    )
    hooks.payments_succeeded_recorded(
        [(payment, result) for payment, _attempt, result, _invoice in plain], now
    )


def _send_receipts(receipts: list[tuple[Payment, list[tuple[str, Decimal]]]]) -> None:
    """`_send_receipt` for many payments (each with the lines it paid), one INSERT."""
    accounts = {payment.account_id: payment.account for payment, _lines in receipts}
    recipients = Account.billing_emails_of(accounts)
    owed = amounts_owed_of(list(accounts))
    emails = []
    for payment, lines in receipts:
        account = accounts[payment.account_id]
        to = set(recipients.get(account.pk, []))
        if payment.created_by is not None:
            to.add(payment.created_by.email)
        context = {
            "payment": payment,
            "account": account,
            "lines": lines,
            "balance": owed.get((account.pk, payment.currency), Decimal(0)),
            "url": settings.SITE_URL.rstrip("/") + reverse("payments:detail", args=[payment.pk]),
        }
        emails.append(
            QueuedEmail(
                key=f"payments.payment.receipt:{payment.pk}",
                account=account,
                to=sorted(to),
                email=render_email("payments/email/receipt", context, language=account.language),
                attachments=[
                    {"kind": "payments.receipt_pdf", "id": payment.pk, "language": account.language}
                ],
            )
        )
    emails_queue(emails)
