"""One-time payments: pay all or part of the balance by card or PayPal, exactly once.

Every payment follows the same steps: lock the account, check the amount against what is
owed less what is already being paid, record the payment and its gateway attempt, commit;
call the gateway with no lock held; then lock again, record the outcome and, for a success,
apply the amount to the open invoices, oldest first, in the same transaction. An attempt
without a sure answer (a time-out, a pending capture) keeps its amount reserved, so the same
balance cannot be paid twice, and is settled by `payments_settle`, which asks the gateway
what happened and never charges again.

Lock order: the Account first (it serialises every money change of the account), then the
payment, then its invoices by primary key.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, Q, Sum, Value, When
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.currencies import exponent
from accounts.models import Account, User, log_action
from accounts.outbox import email_queue
from invoices.models import Invoice
from invoices.money import format_money, has_valid_precision, round_money
from invoices.services import invoice_apply_payment

from .dunning import autocharge_record_outcome, autocharges_stop_paid
from .gateways import card_gateway, paypal_gateway
from .gateways.base import (
    PAYPAL_CURRENCIES,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidToken,
    Outcome,
    PayPalOrderStatus,
)
from .models import GatewayAttempt, Payment, PaymentAllocation, WebhookEvent
from .services import (
    BillingAddress,
    PaymentMethodError,
    TooManyAttempts,
    card_attempts_exceeded,
)

logger = logging.getLogger(__name__)


class PaymentError(PaymentMethodError):
    """A payment that cannot be made; the message is for the customer. Nothing was charged."""


def new_key() -> str:
    """The idempotency key a payment form carries: one payment per key, however often sent."""
    return secrets.token_urlsafe(24)


# What may be paid ----------------------------------------------------------------------------


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


def amount_payable(account: Account, currency: str) -> Decimal:
    """The most a new payment in `currency` may be: what is owed less what is being paid."""
    return max(amount_owed(account, currency) - amount_in_flight(account, currency), Decimal(0))


def validate_amount(*, account: Account, amount: Decimal, currency: str) -> None:
    """Raise PaymentError unless `amount` is above zero, in the currency's exponent and no
    more than the balance less what is already being paid."""
    if not amount.is_finite():
        raise PaymentError(_("Enter a number."))
    if amount <= 0:
        raise PaymentError(_("The amount must be greater than zero."))
    if not has_valid_precision(amount, currency):
        places = exponent(currency)
        if not places:
            raise PaymentError(_("%(currency)s amounts have no decimals.") % {"currency": currency})
        raise PaymentError(
            _("%(currency)s amounts have at most %(places)s decimals.")
            % {"currency": currency, "places": places}
        )
    owed = amount_owed(account, currency)
    if owed <= 0:
        raise PaymentError(_("Nothing is owed in %(currency)s.") % {"currency": currency})
    if amount > owed:
        raise PaymentError(
            _("The amount is more than the balance of %(balance)s.")
            % {"balance": format_money(owed, currency)}
        )
    moving = amount_in_flight(account, currency)
    if moving and amount > owed - moving:
        raise PaymentError(
            _(
                "A payment of %(amount)s is still being processed. Wait for it to finish "
                "before paying the same balance again."
            )
            % {"amount": format_money(moving, currency)}
        )


def _check_card_limits(*, account: Account, user: User, ip: str | None) -> None:
    """The card-testing defence, shared with adding a card: before any gateway call."""
    if card_attempts_exceeded(account=account, user=user, ip=ip):
        raise TooManyAttempts(_("Too many cards were tried recently. Try again in an hour."))


def _existing(key: str, account: Account) -> Payment | None:
    payment = Payment.objects.filter(key=key).first()
    if payment is not None and payment.account_id != account.pk:
        raise PaymentError(_("This form was already used. Reload the page and try again."))
    return payment


def _create(**fields: Any) -> Payment | None:
    """The payment, recorded as started; None when a concurrent request with the same key
    created it first."""
    try:
        with transaction.atomic():
            payment = Payment.objects.create(**fields)
    except IntegrityError:
        return None
    log_action(
        "payments.payment.started",
        obj=payment,
        account=payment.account,
        actor=payment.created_by,
        method=payment.method,
        amount=str(payment.amount),
        currency=payment.currency,
    )
    return payment


# Paying by card --------------------------------------------------------------------------------


def payment_pay_by_card(
    *,
    account: Account,
    by: User,
    token: str,
    amount: Decimal,
    currency: str,
    key: str,
    address: BillingAddress,
    eu_supported: bool = False,
    ip: str | None = None,
) -> Payment:
    """Charge a one-time card (its single-use token) and apply the amount at once.

    Submitting the same form again (the same `key`) returns the first payment and charges
    nothing more. The card is never stored and never becomes a payment method. Returns the
    payment, Succeeded, Declined, Failed or Processing (no answer yet: settled later).
    Raises PaymentError (and TooManyAttempts) before any gateway call for a bad amount, an
    unreadable or expired card, or a balance already being paid.
    """
    existing = _existing(key, account)
    if existing is not None:
        return existing
    _check_card_limits(account=account, user=by, ip=ip)
    gateway = card_gateway()
    try:
        card = gateway.describe_token(token)
    except InvalidToken as error:
        # A double click: the first request may have used the token already.
        existing = _existing(key, account)
        if existing is not None:
            return existing
        raise PaymentError(
            _("The card details could not be read. Enter the card again.")
        ) from error
    today = timezone.localdate()
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        raise PaymentError(_("The card has expired."))

    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        existing = _existing(key, account)
        if existing is not None:
            return existing
        validate_amount(account=account, amount=amount, currency=currency)
        payment = _create(
            account=account,
            key=key,
            method=Payment.Method.CARD,
            state=Payment.State.PROCESSING,
            amount=amount,
            currency=currency,
            gateway=gateway.name,
            brand=card.brand,
            last4=card.last4,
            created_by=by,
            created_ip=ip,
            **address.__dict__,
        )
        if payment is None:
            return Payment.objects.get(key=key)
        attempt = GatewayAttempt.objects.create(
            idempotency_key=f"payment:{payment.pk}:charge",
            gateway=gateway.name,
            kind=GatewayAttempt.Kind.CHARGE,
            payment=payment,
        )
        if eu_supported and not account.eu_supported:
            account.eu_supported = True
            account.save(update_fields=["eu_supported"])

    try:
        result = gateway.charge_token(
            token=token, amount=amount, currency=currency, idempotency_key=attempt.idempotency_key
        )
    except GatewayTimeout as error:
        attempt_mark_unknown(attempt, str(error))
        return Payment.objects.get(pk=payment.pk)
    except GatewayUnavailable as error:
        result = GatewayResult(outcome=Outcome.FAILED, message=str(error) or "unavailable")
    return payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result)


def attempt_mark_unknown(attempt: GatewayAttempt, message: str) -> None:
    """No answer came: the attempt is unknown until the gateway is asked about it."""
    GatewayAttempt.objects.filter(pk=attempt.pk, status=GatewayAttempt.Status.STARTED).update(
        status=GatewayAttempt.Status.UNKNOWN, message=message[:255]
    )


# Paying with PayPal ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PayPalStart:
    payment: Payment
    approve_url: str


def payment_paypal_start(
    *,
    account: Account,
    by: User,
    amount: Decimal,
    currency: str,
    key: str,
    return_url: str,
    cancel_url: str,
    ip: str | None = None,
) -> PayPalStart:
    """Create a PayPal order for `amount` (decided here, never by the browser) and give the
    URL where the customer approves it. Nothing is charged until the order is captured.

    The same `key` again gives the same order. Raises PaymentError for a bad amount or when
    PayPal cannot be reached (nothing is created then).
    """
    gateway = paypal_gateway()
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        payment = _existing(key, account)
        if payment is None:
            if currency not in PAYPAL_CURRENCIES:
                raise PaymentError(
                    _("PayPal does not take payments in %(currency)s. Pay by card.")
                    % {"currency": currency}
                )
            validate_amount(account=account, amount=amount, currency=currency)
            payment = _create(
                account=account,
                key=key,
                method=Payment.Method.PAYPAL,
                state=Payment.State.CREATED,
                amount=amount,
                currency=currency,
                gateway=gateway.name,
                created_by=by,
                created_ip=ip,
            )
            if payment is None:
                payment = Payment.objects.get(key=key)
    if payment.state != Payment.State.CREATED:
        return PayPalStart(payment, "")
    with translation.override(account.language):
        description = _("Payment to %(seller)s") % {"seller": settings.SELLER_NAME}
    try:
        order = gateway.create_order(
            amount=payment.amount,
            currency=payment.currency,
            reference=str(payment.pk),
            description=description,
            return_url=return_url,
            cancel_url=cancel_url,
            locale=translation.get_language() or settings.LANGUAGE_CODE,
            request_id=f"payment:{payment.pk}:order",
        )
    except (GatewayTimeout, GatewayUnavailable) as error:
        # An order nobody can approve moves no money: the payment simply fails.
        Payment.objects.filter(pk=payment.pk, state=Payment.State.CREATED).update(
            state=Payment.State.FAILED,
            failure_message=str(error)[:255],
            completed_at=timezone.now(),
        )
        raise PaymentError(
            _("PayPal could not be reached. Nothing was charged; try again in a moment.")
        ) from error
    if payment.order_id != order.id:
        Payment.objects.filter(pk=payment.pk).update(order_id=order.id, reference=order.id)
        payment.order_id = order.id
    return PayPalStart(payment, order.approve_url)


def payment_paypal_capture(*, payment_id: int) -> Payment:
    """Capture the approved PayPal order of a payment (the customer came back, a webhook
    said it was approved, or the periodic task found it approved) and apply it.

    Capturing is asked once per payment (one request id), so however many of those arrive
    the order is captured once. An order for more than is now owed is not captured.
    """
    paypal_gateway()
    with transaction.atomic():
        payment = payment_lock(payment_id)
        if payment.state != Payment.State.CREATED:
            return payment
        payable = amount_payable(payment.account, payment.currency)
        if payment.amount > payable:
            payment.state = Payment.State.CANCELLED
            payment.failure_message = "The balance changed before the order was captured."
            payment.completed_at = timezone.now()
            payment.save(update_fields=["state", "failure_message", "completed_at"])
            log_action("payments.payment.cancelled", obj=payment, account=payment.account)
            return payment
        payment.state = Payment.State.PROCESSING
        payment.save(update_fields=["state"])
        attempt, _created = GatewayAttempt.objects.get_or_create(
            idempotency_key=f"payment:{payment.pk}:capture",
            defaults={
                "gateway": payment.gateway,
                "kind": GatewayAttempt.Kind.CHARGE,
                "payment": payment,
            },
        )
    return _capture(payment, attempt)


def _capture(payment: Payment, attempt: GatewayAttempt) -> Payment:
    gateway = paypal_gateway()
    try:
        result = gateway.capture_order(
            order_id=payment.order_id, request_id=attempt.idempotency_key
        )
    except GatewayTimeout as error:
        attempt_mark_unknown(attempt, str(error))
        return Payment.objects.get(pk=payment.pk)
    except GatewayUnavailable as error:
        # Not captured: the order waits (approved) for the periodic task to try again.
        attempt_mark_unknown(attempt, str(error))
        return Payment.objects.get(pk=payment.pk)
    return payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result)


def payment_paypal_cancel(*, payment: Payment) -> Payment:
    """The customer cancelled at PayPal: nothing was charged and nothing is applied."""
    with transaction.atomic():
        payment = payment_lock(payment.pk)
        if payment.state == Payment.State.CREATED:
            payment.state = Payment.State.CANCELLED
            payment.completed_at = timezone.now()
            payment.save(update_fields=["state", "completed_at"])
            log_action("payments.payment.cancelled", obj=payment, account=payment.account)
    return payment


def payment_paypal_sync(*, payment_id: int, now: datetime | None = None) -> Payment:
    """Bring a PayPal payment in line with its order at PayPal: capture an approved order,
    record a capture's outcome, give up an order never approved in time or voided."""
    now = now or timezone.now()
    payment = Payment.objects.get(pk=payment_id)
    if payment.is_final or not payment.order_id:
        return payment
    try:
        order = paypal_gateway().get_order(order_id=payment.order_id)
    except (GatewayTimeout, GatewayUnavailable):
        return payment
    expired = payment.created_at < now - timedelta(hours=settings.PAYMENT_PAYPAL_APPROVAL_HOURS)
    if payment.state == Payment.State.CREATED:
        if order.status == PayPalOrderStatus.APPROVED:
            return payment_paypal_capture(payment_id=payment.pk)
        if order.status == PayPalOrderStatus.VOIDED or expired:
            return payment_paypal_cancel(payment=payment)
        return payment
    attempt = GatewayAttempt.objects.get(idempotency_key=f"payment:{payment.pk}:capture")
    if order.capture is not None:
        return payment_record_outcome(
            payment_id=payment.pk, attempt_id=attempt.pk, result=order.capture, now=now
        )
    if order.status == PayPalOrderStatus.APPROVED and not expired:
        # The capture never reached PayPal (or its answer was lost): asking again with the
        # same request id captures at most once.
        return _capture(payment, attempt)
    if order.status == PayPalOrderStatus.VOIDED or expired:
        # PayPal voided the order (an approval not captured in time): nothing was taken.
        return payment_record_outcome(
            payment_id=payment.pk,
            attempt_id=attempt.pk,
            result=GatewayResult(outcome=Outcome.FAILED, message=f"Order {order.status}"),
            now=now,
        )
    return payment


# Recording outcomes and applying payments ----------------------------------------------------


def payment_lock(payment_id: int) -> Payment:
    """Lock the payment's account, then the payment (inside the caller's transaction)."""
    account_id = Payment.objects.values_list("account_id", flat=True).get(pk=payment_id)
    Account.objects.select_for_update().filter(pk=account_id).first()
    return Payment.objects.select_for_update().select_related("account").get(pk=payment_id)


def payment_record_outcome(
    *, payment_id: int, attempt_id: int, result: GatewayResult, now: datetime | None = None
) -> Payment:
    """Record what the gateway answered and act on it, once: a success is applied to the
    open invoices and receipted, a decline or failure applies nothing, a pending answer keeps
    the amount reserved; an automatic charge moves along its dunning schedule. An outcome
    already recorded is not recorded again. `now` is the clock of the dunning schedule."""
    now = now or timezone.now()
    with transaction.atomic():
        payment = payment_lock(payment_id)
        attempt = GatewayAttempt.objects.select_for_update().get(pk=attempt_id)
        open_states = (
            GatewayAttempt.Status.STARTED,
            GatewayAttempt.Status.UNKNOWN,
            GatewayAttempt.Status.PENDING,
        )
        late_success = (
            result.outcome == Outcome.SUCCEEDED
            and payment.state == Payment.State.FAILED
            and attempt.status in (GatewayAttempt.Status.FAILED, *open_states)
        )
        if late_success:
            # A charge given up as never received did go through after all: the money moved,
            # so the payment counts (and staff can see it happened late).
            log_action("payments.payment.succeeded_late", obj=payment, account=payment.account)
            attempt.status = GatewayAttempt.Status.UNKNOWN
            payment.state = Payment.State.PROCESSING
        elif attempt.status not in open_states or payment.is_final:
            return payment
        completed_at = timezone.now()
        attempt.reference = result.reference or attempt.reference
        attempt.decline = result.decline or ""
        attempt.message = result.message[:255]
        if result.outcome == Outcome.PENDING:
            attempt.status = GatewayAttempt.Status.PENDING
            attempt.save()
            if payment.state != Payment.State.PENDING:
                payment.state = Payment.State.PENDING
                payment.reference = result.reference or payment.reference
                payment.save(update_fields=["state", "reference"])
                log_action("payments.payment.pending", obj=payment, account=payment.account)
            return payment
        attempt.completed_at = completed_at
        attempt.status = {
            Outcome.SUCCEEDED: GatewayAttempt.Status.SUCCEEDED,
            Outcome.DECLINED: GatewayAttempt.Status.DECLINED,
            Outcome.FAILED: GatewayAttempt.Status.FAILED,
        }[result.outcome]
        attempt.save()
        payment.completed_at = completed_at
        if result.reference:
            payment.reference = result.reference
        if result.outcome == Outcome.SUCCEEDED:
            payment.state = Payment.State.SUCCEEDED
            payment.save(update_fields=["state", "reference", "completed_at"])
            _apply(payment)
            log_action(
                "payments.payment.succeeded",
                obj=payment,
                account=payment.account,
                amount=str(payment.amount),
                currency=payment.currency,
            )
            _send_receipt(payment)
        else:
            payment.state = (
                Payment.State.DECLINED
                if result.outcome == Outcome.DECLINED
                else Payment.State.FAILED
            )
            payment.decline_code = (
                (result.decline or "generic") if result.outcome == Outcome.DECLINED else ""
            )
            if result.outcome == Outcome.FAILED and result.decline:
                payment.decline_code = result.decline
            payment.failure_message = result.message[:255]
            payment.save(
                update_fields=[
                    "state",
                    "reference",
                    "completed_at",
                    "decline_code",
                    "failure_message",
                ]
            )
            log_action(
                f"payments.payment.{payment.state}",
                obj=payment,
                account=payment.account,
                decline=payment.decline_code,
            )
        if payment.autocharge_id is not None:
            autocharge_record_outcome(payment, result, now)
    return payment


def _apply(payment: Payment) -> None:
    """Apply a succeeded payment to the account's open invoices in its currency, oldest
    first; the caller holds the account's lock. Whatever is left over (the balance shrank
    while the gateway answered) is refunded by a worker after the commit."""
    # The account's lock serialises every payment of the account, so the open invoices are
    # read in the order they are paid and each is locked only when it is paid
    # (`invoice_apply_payment`): a payment costs the same however many invoices are open.
    # An automatic charge pays the invoice it was made for first.
    first = payment.autocharge.invoice_id if payment.autocharge is not None else None
    open_invoices = (
        Invoice.objects.filter(
            account=payment.account, currency=payment.currency, state=Invoice.State.OPEN
        )
        .annotate(
            is_first=Case(When(pk=first, then=Value(0)), default=Value(1)),
        )
        .order_by("is_first", "issue_date", "pk")
    )
    left = payment.amount
    paid = []
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
            if part == invoice.balance:
                paid.append(invoice.pk)
    autocharges_stop_paid(paid)
    if left > 0:
        from .tasks import refund_unapplied_task

        refund_unapplied_task.delay(payment.pk)
        log_action(
            "payments.payment.unapplied",
            obj=payment,
            account=payment.account,
            amount=str(left),
            currency=payment.currency,
        )


def payment_applied(payment: Payment) -> Decimal:
    total = payment.allocations.aggregate(total=Sum("allocation__amount"))["total"]
    return round_money(total or 0, payment.currency)


def _recipients(payment: Payment) -> list[str]:
    emails = set(payment.account.billing_emails())
    if payment.created_by is not None:
        emails.add(payment.created_by.email)
    return sorted(emails)


def _send_receipt(payment: Payment) -> None:
    """The receipt, in the account's language, through the outbox (same transaction)."""
    account = payment.account
    allocations = list(
        payment.allocations.select_related("allocation__invoice").order_by("allocation__pk")
    )
    with translation.override(account.language):
        context = {
            "payment": payment,
            "account": account,
            "lines": [
                (a.allocation.invoice.number, format_money(a.allocation.amount, payment.currency))
                for a in allocations
            ],
            "amount": format_money(payment.amount, payment.currency),
            "balance": format_money(amount_owed(account, payment.currency), payment.currency),
            "url": settings.SITE_URL.rstrip("/") + reverse("payments:detail", args=[payment.pk]),
        }
        subject = render_to_string("payments/email/receipt_subject.txt", context)
        body = render_to_string("payments/email/receipt_body.txt", context)
    email_queue(
        key=f"payments.payment.receipt:{payment.pk}",
        account=account,
        to=_recipients(payment),
        subject=" ".join(subject.split()),
        body=body,
    )


# Settling what has no sure answer (a periodic task) ------------------------------------------


def payment_settle_card(payment: Payment, now: datetime | None = None) -> Payment:
    """Ask the card gateway what became of the payment's charge and record it."""
    attempt = payment.attempts.filter(kind=GatewayAttempt.Kind.CHARGE).order_by("pk").last()
    if attempt is None:
        return payment
    try:
        result = card_gateway().lookup(idempotency_key=attempt.idempotency_key)
    except (GatewayTimeout, GatewayUnavailable):
        return payment
    if result is None:
        # The gateway never received the charge: nothing moved. Not a decline either: an
        # automatic charge is tried again soon.
        result = GatewayResult(
            outcome=Outcome.FAILED, message="The gateway never received it.", retryable=True
        )
    return payment_record_outcome(
        payment_id=payment.pk, attempt_id=attempt.pk, result=result, now=now
    )


def payments_settle(*, now: datetime) -> int:
    """Ask the gateways what became of every payment without a final answer: charges that
    timed out or are pending, PayPal orders approved by a customer who never came back.
    A call still under way is left alone until it has had PAYMENT_SETTLE_AFTER_SECONDS to
    answer. Nothing is charged again; returns how many payments reached a final state."""
    quiet = now - timedelta(seconds=settings.PAYMENT_SETTLE_AFTER_SECONDS)
    open_payments = Payment.objects.filter(
        Q(state__in=Payment.IN_FLIGHT) | Q(state=Payment.State.CREATED),
        created_at__lte=quiet,
    ).order_by("pk")
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
    if payment.method == Payment.Method.PAYPAL:
        return payment_paypal_sync(payment_id=payment.pk, now=now)
    return payment_settle_card(payment, now=now)


# PayPal's webhooks ------------------------------------------------------------------------------


def _order_id_of(event: dict[str, Any]) -> str:
    resource = event.get("resource") or {}
    if str(event.get("event_type", "")).startswith("CHECKOUT.ORDER."):
        return str(resource.get("id", ""))
    related = (resource.get("supplementary_data") or {}).get("related_ids") or {}
    return str(related.get("order_id", ""))


def paypal_webhook_receive(*, headers: Mapping[str, str], body: bytes) -> str:
    """Act on a webhook from PayPal once its signature is confirmed by PayPal.

    A forged or unverifiable webhook changes nothing ("ignored"); the same event delivered
    again is recognised by its id ("duplicate"). A genuine one about an order of ours has a
    worker bring that payment in line with PayPal ("accepted"); the webhook itself is never
    trusted for the amount or the outcome, which come from PayPal's API.
    """
    gateway = paypal_gateway()
    event = gateway.verify_webhook(headers=headers, body=body)
    if event is None or not event.get("id"):
        return "ignored"
    order_id = _order_id_of(event)
    with transaction.atomic():
        record, _created = WebhookEvent.objects.select_for_update().get_or_create(
            gateway=gateway.name,
            event_id=str(event["id"])[:128],
            defaults={
                "event_type": str(event.get("event_type", ""))[:64],
                "resource_id": order_id[:128],
            },
        )
        if record.processed_at is not None:
            return "duplicate"
        payment = (
            Payment.objects.filter(method=Payment.Method.PAYPAL, order_id=order_id).first()
            if order_id
            else None
        )
        record.processed_at = timezone.now()
        record.save(update_fields=["processed_at"])
        if payment is not None and not payment.is_final:
            from .tasks import paypal_sync_task

            paypal_sync_task.delay(payment.pk)
    return "accepted"
