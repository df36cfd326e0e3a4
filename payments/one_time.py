"""One-time payments: pay all or part of the balance by card or PayPal, exactly once.

Every payment follows the life in `payments.core`: lock the account, check the amount
against what is owed less what is already being paid, record the payment and its gateway
attempt, commit; call the gateway with no lock held; then record the outcome once and, for a
success, apply the amount to the open invoices in the same transaction: the invoices the
customer chose first (`invoices`, in the order shown: `payments.chosen`), then oldest first.
A one-time card is never stored and never becomes a payment method.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import log_action
from accounts.currencies import exponent
from accounts.locks import account_lock
from accounts.models import Account, User
from invoices.money import format_money, has_valid_precision

from .audit import PAYMENT_ABANDONED, PAYMENT_CANCELLED, PAYMENT_STARTED
from .card_checks import (
    BillingAddress,
    card_expired,
    check_card_attempts,
    lock_and_check_card_attempts,
)
from .chosen import chosen_invoices_check
from .core import (
    attempt_keep_reference,
    attempt_start,
    payment_card_give_up,
    payment_record_outcome,
    payment_settle_card,
)
from .errors import PaymentError
from .gateway import Unanswered, card_gateway, gateway_ask, gateway_call, paypal_gateway
from .gateways.base import (
    PAYPAL_CURRENCIES,
    AmountProblemKind,
    BrowserConfirmedCards,
    BrowserIntent,
    DeclineCategory,
    GatewayRefused,
    GatewayResult,
    InvalidToken,
    Outcome,
)
from .gateways.base import PayPalOrderStatus as OrderStatus
from .locks import payment_lock
from .models import GatewayAttempt, Payment, PaymentMethod, WebhookEvent
from .selectors import amount_in_flight, amount_owed, amount_payable

logger = logging.getLogger(__name__)


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


def paypal_accepts(currency: str) -> bool:
    """Whether PayPal takes payments in `currency` (it does not take BHD, say)."""
    return currency in PAYPAL_CURRENCIES


def payment_of_form(*, key: str, account: Account) -> Payment | None:
    """The payment a form's key already made, if any: a form sent again (a double click, a
    refresh, a replay) is the same payment. Another account's key is refused."""
    payment = Payment.objects.filter(key=key).first()
    if payment is not None and payment.account_id != account.pk:
        raise PaymentError(_("This form was already used. Reload the page and try again."))
    return payment


def _created_concurrently(*, key: str, account: Account) -> Payment:
    """The payment a concurrent request of the same form created first. A key that belongs to
    another account's form (a forged one) is refused, never answered with that payment."""
    payment = payment_of_form(key=key, account=account)
    if payment is None:
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
        PAYMENT_STARTED,
        obj=payment,
        account=payment.account,
        actor=payment.created_by,
        method=payment.method,
        amount=str(payment.amount),
        currency=payment.currency,
        **({"invoices": payment.chosen_invoices} if payment.chosen_invoices else {}),
    )
    return payment


def _chosen(*, account: Account, invoices: list[int] | None, currency: str) -> list[int]:
    """The chosen invoices' ids to record on the payment, checked under the account's lock:
    each an open charge of the account in the payment's currency (PaymentError if not)."""
    if not invoices:
        return []
    return chosen_invoices_check(account=account, ids=invoices, currency=currency).ids


# Paying by card --------------------------------------------------------------------------------


def check_card_amount(*, amount: Decimal, currency: str) -> None:
    """Raise PaymentError for an amount the card processor would refuse (below its minimum,
    or one it could only take rounded), before anything is recorded or called."""
    problem = card_gateway().amount_problem(amount, currency)
    if problem is None:
        return
    if problem.kind == AmountProblemKind.BELOW_MINIMUM and problem.minimum is not None:
        raise PaymentError(
            _("The card processor takes card payments of at least %(minimum)s.")
            % {"minimum": format_money(problem.minimum, currency)}
        )
    raise PaymentError(
        _("The card processor cannot take %(amount)s exactly. Change the amount.")
        % {"amount": format_money(amount, currency)}
    )


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
    invoices: list[int] | None = None,
    ip: str | None = None,
) -> Payment:
    """Charge a one-time card (its single-use token) and apply the amount at once.

    Submitting the same form again (the same `key`) returns the first payment and charges
    nothing more. The card is never stored and never becomes a payment method. Returns the
    payment, Succeeded, Declined, Failed or Processing (no answer yet: settled later).
    Raises PaymentError (and TooManyAttempts) before any gateway call for a bad amount, an
    unreadable or expired card, or a balance already being paid.
    """
    existing = payment_of_form(key=key, account=account)
    gateway = card_gateway()
    if isinstance(gateway, BrowserConfirmedCards):
        # The payment was started when the customer pressed Pay (`payment_card_start`) and
        # the customer confirmed it with the processor; `token` names that intent.
        return payment_card_finish(account=account, key=key, token=token)
    if existing is not None:
        return existing
    check_card_attempts(account=account, user=by, ip=ip, count_cards=False)
    check_card_amount(amount=amount, currency=currency)
    try:
        card = gateway.describe_token(token)
    except InvalidToken as error:
        # A double click: the first request may have used the token already.
        existing = payment_of_form(key=key, account=account)
        if existing is not None:
            return existing
        raise PaymentError(
            _("The card details could not be read. Enter the card again.")
        ) from error
    if card_expired(card):
        raise PaymentError(_("The card has expired."))

    with transaction.atomic():
        account = account_lock(account.pk)
        existing = payment_of_form(key=key, account=account)
        if existing is not None:
            return existing
        lock_and_check_card_attempts(account=account, user=by, ip=ip, fingerprint=card.fingerprint)
        chosen = _chosen(account=account, invoices=invoices, currency=currency)
        validate_amount(account=account, amount=amount, currency=currency)
        payment = _create(
            chosen_invoices=chosen,
            account=account,
            key=key,
            method=Payment.Method.CARD,
            state=Payment.State.PROCESSING,
            amount=amount,
            currency=currency,
            gateway=gateway.name,
            brand=card.brand,
            last4=card.last4,
            fingerprint=card.fingerprint,
            created_by=by,
            created_ip=ip,
            **address.as_fields(),
        )
        if payment is None:
            return _created_concurrently(key=key, account=account)
        attempt = attempt_start(
            key=f"payment:{payment.pk}:charge",
            gateway=gateway.name,
            kind=GatewayAttempt.Kind.CHARGE,
            payment=payment,
        )
        if eu_supported and not account.eu_supported:
            account.eu_supported = True
            account.save(update_fields=["eu_supported"])

    result = gateway_call(
        attempt,
        lambda: gateway.charge_token(
            token=token, amount=amount, currency=currency, idempotency_key=attempt.idempotency_key
        ),
    )
    if result is None:
        return Payment.objects.get(pk=payment.pk)
    return payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result)


# Paying once with a card on file ---------------------------------------------------------------


def card_on_file_for_payment(account: Account) -> PaymentMethod | None:
    """The card on file the customer may pay once with: verified (checked by the gateway
    and approved by a representative), saved with the card processor in use and not past
    its expiry; the monthly card first, then the newest."""
    today = timezone.localdate()
    for method in (
        PaymentMethod.objects.filter(
            account=account, state=PaymentMethod.State.VERIFIED, gateway=card_gateway().name
        )
        .exclude(credential="")
        .order_by("-is_monthly", "-created_at", "-pk")
    ):
        if method.expires_on is None or method.expires_on > today:
            return method
    return None


def payment_pay_by_card_on_file(
    *,
    account: Account,
    by: User,
    payment_method: PaymentMethod,
    amount: Decimal,
    currency: str,
    key: str,
    invoices: list[int] | None = None,
    ip: str | None = None,
) -> Payment:
    """Charge the account's verified card on file once for `amount` and apply it at once.

    The card-testing limits do not apply: the card passed the gateway's check and a
    representative's approval, and no new card is tried. The same form again (the same
    `key`) returns the first payment. Returns the payment, Succeeded, Declined, Failed,
    Processing (no answer yet) or Needs your confirmation (the bank asks: the payment's page
    confirms it). Raises PaymentError for a card that cannot be charged or a bad amount.
    """
    existing = payment_of_form(key=key, account=account)
    if existing is not None:
        return existing
    gateway = card_gateway()
    if card_on_file_for_payment(account) != payment_method:
        raise PaymentError(_("This card cannot be charged. Pay with another card or PayPal."))
    check_card_amount(amount=amount, currency=currency)
    with transaction.atomic():
        account = account_lock(account.pk)
        existing = payment_of_form(key=key, account=account)
        if existing is not None:
            return existing
        method = PaymentMethod.objects.get(pk=payment_method.pk)
        if method.state != PaymentMethod.State.VERIFIED or not method.credential:
            raise PaymentError(_("This card cannot be charged. Pay with another card or PayPal."))
        chosen = _chosen(account=account, invoices=invoices, currency=currency)
        validate_amount(account=account, amount=amount, currency=currency)
        payment = _create(
            chosen_invoices=chosen,
            account=account,
            key=key,
            method=Payment.Method.CARD_ON_FILE,
            state=Payment.State.PROCESSING,
            amount=amount,
            currency=currency,
            gateway=method.gateway,
            payment_method=method,
            brand=method.brand,
            last4=method.last4,
            fingerprint=method.fingerprint,
            created_by=by,
            created_ip=ip,
            **{name: getattr(method, name) for name in ("address_line1", "city", "country")},
        )
        if payment is None:
            return _created_concurrently(key=key, account=account)
        attempt = attempt_start(
            key=f"payment:{payment.pk}:charge",
            gateway=method.gateway,
            kind=GatewayAttempt.Kind.CHARGE,
            payment=payment,
            payment_method=method,
        )
    result = gateway_call(
        attempt,
        lambda: gateway.charge(
            credential=method.credential,
            amount=amount,
            currency=currency,
            idempotency_key=attempt.idempotency_key,
            on_reference=lambda reference: attempt_keep_reference(
                attempt=attempt, reference=reference
            ),
        ),
    )
    if result is None:
        return Payment.objects.get(pk=payment.pk)
    return payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result)


# Paying by a card the customer confirms with the processor in the browser (Stripe) ---------


@dataclass(frozen=True)
class CardPaymentStart:
    payment: Payment
    # What the browser confirms the payment with; empty when there is nothing to confirm.
    client_secret: str


def payment_card_start(
    *,
    account: Account,
    by: User,
    amount: Decimal,
    currency: str,
    key: str,
    address: BillingAddress,
    eu_supported: bool = False,
    invoices: list[int] | None = None,
    ip: str | None = None,
) -> CardPaymentStart:
    """Pay with Credit Card, with a processor whose card fields confirm in the browser: the
    payment and its intent at the processor are created for `amount` (decided here, never by
    the browser); the browser then confirms the intent with the card, and the bank's
    challenge when it asks, and the form is sent with the intent to record the outcome.

    The same `key` again gives the same payment and intent. Raises PaymentError (and
    TooManyAttempts) for a bad amount, a balance already being paid, or a processor that
    cannot be reached (nothing is charged then).
    """
    gateway = card_gateway()
    if not isinstance(gateway, BrowserConfirmedCards):
        raise PaymentError(_("This card processor takes the card with the form."))
    existing = payment_of_form(key=key, account=account)
    if existing is not None:
        return _card_payment_resume(gateway, existing)
    check_card_attempts(account=account, user=by, ip=ip, count_cards=False)
    check_card_amount(amount=amount, currency=currency)
    with transaction.atomic():
        account = account_lock(account.pk)
        existing = payment_of_form(key=key, account=account)
        if existing is not None:
            return _card_payment_resume(gateway, existing)
        lock_and_check_card_attempts(account=account, user=by, ip=ip)
        chosen = _chosen(account=account, invoices=invoices, currency=currency)
        validate_amount(account=account, amount=amount, currency=currency)
        payment = _create(
            chosen_invoices=chosen,
            account=account,
            key=key,
            method=Payment.Method.CARD,
            state=Payment.State.PROCESSING,
            amount=amount,
            currency=currency,
            gateway=gateway.name,
            created_by=by,
            created_ip=ip,
            **address.as_fields(),
        )
        if payment is None:
            return _card_payment_resume(gateway, _created_concurrently(key=key, account=account))
        attempt = attempt_start(
            key=f"payment:{payment.pk}:charge",
            gateway=gateway.name,
            kind=GatewayAttempt.Kind.CHARGE,
            payment=payment,
        )
        if eu_supported and not account.eu_supported:
            account.eu_supported = True
            account.save(update_fields=["eu_supported"])
    return _card_payment_open(gateway, payment, attempt)


def _card_payment_open(
    gateway: BrowserConfirmedCards, payment: Payment, attempt: GatewayAttempt
) -> CardPaymentStart:
    """Create the payment's intent at the processor (once: the payment's key is the
    processor's idempotency key) and keep its reference."""
    try:
        intent = gateway_ask(
            lambda: gateway.card_payment_start(
                amount=payment.amount,
                currency=payment.currency,
                idempotency_key=payment.key,
                metadata={"payment": payment.key, "attempt": attempt.idempotency_key},
            )
        )
    except GatewayRefused as refused:
        payment_record_outcome(
            payment_id=payment.pk,
            attempt_id=attempt.pk,
            result=GatewayResult(outcome=Outcome.FAILED, message=str(refused)),
        )
        raise PaymentError(
            _("The card processor does not take this payment. Nothing was charged.")
        ) from refused
    if isinstance(intent, Unanswered):
        # Perhaps created, perhaps not (or being created for the same form in another tab):
        # either way this browser never had what it takes to confirm it, so nothing can be
        # charged. The same form again asks for it under the same key; a form never sent
        # again is failed by the settler.
        payment.refresh_from_db()
        if payment.reference:
            return _card_payment_resume(gateway, payment)
        raise PaymentError(
            _("The card processor could not be reached. Nothing was charged; try again.")
        )
    GatewayAttempt.objects.filter(pk=attempt.pk).update(reference=intent.reference)
    Payment.objects.filter(pk=payment.pk).update(reference=intent.reference)
    payment.reference = intent.reference
    return CardPaymentStart(payment, intent.client_secret)


def _card_payment_resume(gateway: BrowserConfirmedCards, payment: Payment) -> CardPaymentStart:
    """The same form again (a second press of Pay): the same payment, to be confirmed."""
    if payment.method != Payment.Method.CARD or payment.is_final:
        return CardPaymentStart(payment, "")
    attempt = payment.attempts.filter(kind=GatewayAttempt.Kind.CHARGE).order_by("pk").last()
    if attempt is None:
        return CardPaymentStart(payment, "")
    if not payment.reference:
        return _card_payment_open(gateway, payment, attempt)
    intent = gateway_ask(lambda: gateway.card_payment_secret(reference=payment.reference))
    if isinstance(intent, Unanswered):
        raise PaymentError(
            _("The card processor could not be reached. Nothing was charged; try again.")
        )
    return CardPaymentStart(payment, intent.client_secret)


def payment_card_finish(*, account: Account, key: str, token: str) -> Payment:
    """The customer confirmed (or tried to) the intent of the payment started with the form
    `key`: record what the processor says became of it, never what the browser says. The
    same form again changes nothing. Raises PaymentError for another form's intent."""
    payment = payment_of_form(key=key, account=account)
    if payment is None or payment.method != Payment.Method.CARD or payment.reference != token:
        raise PaymentError(_("This form was already used. Reload the page and try again."))
    if payment.is_final:
        return payment
    payment = payment_settle_card(payment=payment)
    if payment.state == Payment.State.REQUIRES_ACTION:
        # The bank's challenge left unfinished: the intent is canceled so that the card can
        # never be confirmed later behind the payment's back (a decline was canceled so).
        return payment_card_abandon(payment=payment)
    return payment


def payment_card_abandon(
    *, payment: Payment, decline: DeclineCategory = DeclineCategory.AUTHENTICATION_FAILED
) -> Payment:
    """Give up a card payment the customer did not confirm with their bank: its intent at
    the processor is canceled first, so that nothing can be taken later; if it was taken
    meanwhile (or is being taken), that is what is recorded. `decline` is why it did not go
    through (a challenge left unfinished, a charge not confirmed in time). A one-time payment
    whose intent was never created failed: nothing can have been charged."""
    if payment.is_final or not isinstance(card_gateway(), BrowserConfirmedCards):
        return payment
    attempt = payment.attempts.filter(kind=GatewayAttempt.Kind.CHARGE).order_by("pk").last()
    if attempt is None:
        return payment
    if not payment.reference:
        return payment_record_outcome(
            payment_id=payment.pk,
            attempt_id=attempt.pk,
            result=GatewayResult(outcome=Outcome.FAILED, message="Never started."),
        )
    payment = payment_card_give_up(
        payment=payment,
        attempt=attempt,
        declined=GatewayResult(
            outcome=Outcome.DECLINED,
            reference=payment.reference,
            decline=decline,
            message="Not confirmed by the customer.",
        ),
    )
    if payment.state == Payment.State.DECLINED:
        with transaction.atomic():
            log_action(PAYMENT_ABANDONED, obj=payment, account=payment.account)
    return payment


def payment_card_confirmation(*, payment: Payment) -> BrowserIntent | None:
    """What the customer's browser needs to confirm a payment the bank asked them to
    confirm (an automatic charge), or None if there is nothing to confirm (any more)."""
    gateway = card_gateway()
    if not isinstance(gateway, BrowserConfirmedCards) or not payment.needs_confirmation:
        return None
    intent = gateway_ask(lambda: gateway.card_payment_secret(reference=payment.reference))
    return None if isinstance(intent, Unanswered) else intent


def payment_card_not_confirming(*, payment: Payment) -> Payment:
    """The customer would rather not confirm the charge their bank asked them to confirm
    (they pay the balance once instead): its intent is canceled, so that it can never be
    taken, and the automatic charge goes back to its dunning schedule, as when the time to
    confirm runs out. If it was confirmed meanwhile, that is what is recorded."""
    if not payment.needs_confirmation:
        return payment
    return payment_card_abandon(payment=payment, decline=DeclineCategory.AUTHENTICATION_REQUIRED)


def payment_card_confirmed(*, payment: Payment) -> Payment:
    """The customer says they confirmed the payment with their bank: ask the processor."""
    if payment.is_final:
        return payment
    return payment_settle_card(payment=payment)


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
    invoices: list[int] | None = None,
    ip: str | None = None,
) -> PayPalStart:
    """Create a PayPal order for `amount` (decided here, never by the browser) and give the
    URL where the customer approves it. Nothing is charged until the order is captured.

    The same `key` again gives the same order. Raises PaymentError for a bad amount or when
    PayPal cannot be reached (nothing is created then).
    """
    gateway = paypal_gateway()
    with transaction.atomic():
        account = account_lock(account.pk)
        payment = payment_of_form(key=key, account=account)
        if payment is None:
            if not paypal_accepts(currency):
                raise PaymentError(
                    _("PayPal does not take payments in %(currency)s. Pay by card.")
                    % {"currency": currency}
                )
            chosen = _chosen(account=account, invoices=invoices, currency=currency)
            validate_amount(account=account, amount=amount, currency=currency)
            payment = _create(
                chosen_invoices=chosen,
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
                payment = _created_concurrently(key=key, account=account)
    if payment.state != Payment.State.CREATED:
        return PayPalStart(payment, "")
    # PayPal shows the description to the payer on its approval page and in their PayPal
    # history: in the payer's language (the page's), as the approval page itself is.
    description = _("Payment to %(seller)s") % {"seller": settings.SELLER_NAME}
    order = gateway_ask(
        lambda: gateway.create_order(
            amount=payment.amount,
            currency=payment.currency,
            reference=str(payment.pk),
            description=description,
            return_url=return_url,
            cancel_url=cancel_url,
            locale=translation.get_language() or settings.LANGUAGE_CODE,
            request_id=f"payment:{payment.pk}:order",
        )
    )
    if isinstance(order, Unanswered):
        # An order nobody can approve moves no money: the payment simply fails.
        Payment.objects.filter(pk=payment.pk, state=Payment.State.CREATED).update(
            state=Payment.State.FAILED,
            failure_message=order.error[:255],
            completed_at=timezone.now(),
        )
        raise PaymentError(
            _("PayPal could not be reached. Nothing was charged; try again in a moment.")
        )
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
            log_action(PAYMENT_CANCELLED, obj=payment, account=payment.account)
            return payment
        payment.state = Payment.State.PROCESSING
        payment.save(update_fields=["state"])
        attempt = attempt_start(
            key=f"payment:{payment.pk}:capture",
            gateway=payment.gateway,
            kind=GatewayAttempt.Kind.CHARGE,
            payment=payment,
        )
    return _capture(payment, attempt)


def _capture(payment: Payment, attempt: GatewayAttempt) -> Payment:
    gateway = paypal_gateway()
    # Not reached: the order waits (approved) for the periodic task to capture it.
    result = gateway_call(
        attempt,
        lambda: gateway.capture_order(
            order_id=payment.order_id, request_id=attempt.idempotency_key
        ),
        unreached="unknown",
    )
    if result is None:
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
            log_action(PAYMENT_CANCELLED, obj=payment, account=payment.account)
    return payment


def payment_paypal_sync(*, payment_id: int, now: datetime | None = None) -> Payment:
    """Bring a PayPal payment in line with its order at PayPal: capture an approved order,
    record a capture's outcome, give up an order never approved in time or voided."""
    now = now or timezone.now()
    payment = Payment.objects.get(pk=payment_id)
    if payment.is_final or not payment.order_id:
        return payment
    order = gateway_ask(lambda: paypal_gateway().get_order(order_id=payment.order_id))
    if isinstance(order, Unanswered):
        return payment
    expired = payment.created_at < now - timedelta(hours=settings.PAYMENT_PAYPAL_APPROVAL_HOURS)
    if payment.state == Payment.State.CREATED:
        if order.status == OrderStatus.APPROVED:
            return payment_paypal_capture(payment_id=payment.pk)
        if order.status == OrderStatus.VOIDED or expired:
            return payment_paypal_cancel(payment=payment)
        return payment
    attempt = GatewayAttempt.objects.get(idempotency_key=f"payment:{payment.pk}:capture")
    if order.capture is not None:
        return payment_record_outcome(
            payment_id=payment.pk, attempt_id=attempt.pk, result=order.capture, now=now
        )
    if order.status == OrderStatus.APPROVED and not expired:
        # The capture never reached PayPal (or its answer was lost): asking again with the
        # same request id captures at most once.
        return _capture(payment, attempt)
    if order.status == OrderStatus.VOIDED or expired:
        # PayPal voided the order (an approval not captured in time): nothing was taken.
        return payment_record_outcome(
            payment_id=payment.pk,
            attempt_id=attempt.pk,
            result=GatewayResult(outcome=Outcome.FAILED, message=f"Order {order.status}"),
            now=now,
        )
    return payment


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
    from .tasks import payment_paypal_sync_task

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
            payment_paypal_sync_task.delay(payment.pk)
    return "accepted"


# The card processor's webhooks ------------------------------------------------------------------


def card_webhook_receive(*, headers: Mapping[str, str], body: bytes) -> str:
    """Act on a webhook from the card processor once its signature (and its age) is checked.

    A forged, stale or unreadable webhook changes nothing ("ignored"); an event already
    received is recognised by its id ("duplicate"); an event the portal does not follow is
    acknowledged and left ("unknown"). For the others the state is read again from the
    processor's API, never taken from the event ("accepted").
    """
    from .cards import payment_method_settle_setup
    from .refunds import refund_settle

    gateway = card_gateway()
    event = gateway.verify_webhook(headers=headers, body=body)
    if event is None or not event.get("id"):
        return "ignored"
    subject = gateway.webhook_subject(event)
    event_id = str(event["id"])[:128]
    if WebhookEvent.objects.filter(
        gateway=gateway.name, event_id=event_id, processed_at__isnull=False
    ).exists():
        return "duplicate"
    # Acted on first, and only then recorded as processed: acting is safe to repeat (it asks
    # the processor and records an outcome once), and a failure on the way leaves the event
    # to the processor's redelivery instead of losing it.
    if subject is not None and subject.reference:
        if subject.kind == "payment":
            for payment in Payment.objects.filter(
                reference=subject.reference, state__in=Payment.IN_FLIGHT
            ):
                payment_settle_card(payment=payment)
        elif subject.kind == "setup":
            payment_method_settle_setup(token=subject.reference)
        elif subject.kind in ("refund", "refunded_payment"):
            refund_settle(reference=subject.reference)
    with transaction.atomic():
        record, created = WebhookEvent.objects.select_for_update().get_or_create(
            gateway=gateway.name,
            event_id=event_id,
            defaults={
                "event_type": str(event.get("type", ""))[:64],
                "resource_id": subject.reference[:128] if subject else "",
                "processed_at": timezone.now(),
            },
        )
        if record.processed_at is not None and not created:
            return "duplicate"
        if record.processed_at is None:
            record.processed_at = timezone.now()
            record.save(update_fields=["processed_at"])
    if subject is None or not subject.reference:
        return "unknown"
    return "accepted"
