"""Cards on file: adding, verifying with the gateway, approving, choosing and removing them,
the promise to decide within CARD_PROMISE_HOURS, and the cards' expiry.

Every change of a card's state locks its account and the card (`locks.payment_method_lock`),
checks its current state, records who did it in the audit trail and emails the contact
given when the card was added (through the outbox, in the account's language). No database
lock is held while the gateway is called.
"""

from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import AuditAction, log_action
from accounts.locks import account_lock
from accounts.models import Account, User
from accounts.outbox import email_queue, render_email

from . import hooks
from .audit import (
    CARD_ADDED,
    CARD_APPROVED,
    CARD_DECLINED_BY_GATEWAY,
    CARD_ESCALATED,
    CARD_EXPIRED,
    CARD_EXPIRY_WARNED,
    CARD_MADE_MONTHLY,
    CARD_NOT_VERIFIABLE,
    CARD_PROMISE_BREACHED,
    CARD_REJECTED,
    CARD_REMOVED,
    CARD_VERIFIED_BY_GATEWAY,
    CUSTOMER_CREATED,
)
from .card_checks import (
    BillingAddress,
    card_expired,
    check_card_attempts,
    lock_and_check_card_attempts,
)
from .core import attempt_start
from .errors import PaymentMethodError, TooManyAttempts
from .gateway import card_gateway, gateway_call
from .gateways.base import (
    BrowserConfirmedCards,
    BrowserIntent,
    DeclineCategory,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidToken,
    Outcome,
)
from .locks import attempt_lock, payment_method_lock
from .models import DECLINE_REASONS, GatewayAttempt, GatewayCustomer, PaymentMethod

logger = logging.getLogger(__name__)


class RetryLater(Exception):
    """The gateway could not answer now; the verification is tried again later."""


def decline_reason(decline: DeclineCategory | None) -> str:
    """The reason in plain words, in the active language."""
    return str(DECLINE_REASONS.get(decline or "generic", DECLINE_REASONS["generic"]))


def _check_limits(
    *, account: Account, user: User, ip: str | None, fingerprint: str | None = None
) -> None:
    """The card-testing limits: a quick look before any gateway call (no `fingerprint`
    yet), then the exact count with the card known, in the transaction that adds the card
    and with its account locked."""
    if fingerprint is not None:
        lock_and_check_card_attempts(account=account, user=user, ip=ip, fingerprint=fingerprint)
    else:
        check_card_attempts(account=account, user=user, ip=ip, count_cards=False)
    window = timezone.now() - timedelta(days=settings.CARD_NEW_WINDOW_DAYS)
    if (
        PaymentMethod.objects.filter(account=account, created_at__gte=window).count()
        >= settings.CARD_NEW_PER_WINDOW
    ):
        raise TooManyAttempts(
            _("This account has added the most new cards allowed for now. Contact support.")
        )


def payment_method_add(
    *,
    account: Account,
    by: User,
    token: str,
    address: BillingAddress,
    contact_email: str,
    eu_supported: bool = False,
    ip: str | None = None,
) -> PaymentMethod:
    """Put a tokenised card on file as Verifying and have a worker verify it at once.

    Raises TooManyAttempts past the card-testing limits (before any gateway call) and
    PaymentMethodError for a missing, forged, used or expired card.
    """
    from .tasks import payment_method_verify_task

    _check_limits(account=account, user=by, ip=ip)
    gateway = card_gateway()
    unreadable = PaymentMethodError(_("The card details could not be read. Enter the card again."))
    try:
        if isinstance(gateway, BrowserConfirmedCards):
            # A setup the customer confirmed in the browser: it must be this account's own.
            customer = gateway_customer_reference(account=account)
            if not customer or gateway.card_setup_customer(token=token) != customer:
                raise unreadable
        card = gateway.describe_token(token)
    except InvalidToken as error:
        raise unreadable from error
    except (GatewayTimeout, GatewayUnavailable) as error:
        raise PaymentMethodError(
            _("The card processor could not be reached. Nothing was saved; try again.")
        ) from error
    if card_expired(card):
        raise PaymentMethodError(_("The card has expired."))
    with transaction.atomic():
        account = account_lock(account.pk)
        _check_limits(account=account, user=by, ip=ip, fingerprint=card.fingerprint)
        if PaymentMethod.objects.filter(token=token).exists():
            raise unreadable
        if card.fingerprint and (
            PaymentMethod.objects.filter(account=account, fingerprint=card.fingerprint)
            .filter(state__in=[PaymentMethod.State.VERIFIED, *PaymentMethod.PENDING_STATES])
            .exists()
        ):
            raise PaymentMethodError(
                _("This card is already on file for this account (or waiting for approval).")
            )
        method = PaymentMethod.objects.create(
            account=account,
            gateway=gateway.name,
            token=token,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder=card.holder,
            fingerprint=card.fingerprint,
            contact_email=contact_email,
            created_by=by,
            created_ip=ip,
            **address.as_fields(),
        )
        if eu_supported and not account.eu_supported:
            account.eu_supported = True
            account.save(update_fields=["eu_supported"])
        log_action(CARD_ADDED, obj=method, account=account, actor=by, **_card(method))
        _notify(method)
        payment_method_verify_task.delay(method.pk)
    return method


def payment_method_verify(*, payment_method_id: int) -> PaymentMethod:
    """Run the gateway's zero-amount verification of a Verifying card and record the outcome.

    The attempt is committed before the gateway is called and no lock is held during the
    call. Raises RetryLater when the gateway could not answer (the card stays Verifying).
    """
    with transaction.atomic():
        method = payment_method_lock(payment_method_id)
        if method.state != PaymentMethod.State.VERIFYING:
            return method
        attempt = attempt_start(
            key=f"verify:{payment_method_id}",
            gateway=method.gateway,
            kind=GatewayAttempt.Kind.VERIFY,
            payment_method=method,
        )
    gateway = card_gateway()
    result = gateway_call(
        attempt,
        lambda: gateway.verify_card(token=method.token, idempotency_key=attempt.idempotency_key),
    )
    if result is None:
        raise RetryLater("The gateway did not answer.")

    with transaction.atomic():
        method = payment_method_lock(payment_method_id)
        attempt = attempt_lock(attempt.pk)
        attempt.reference = result.reference
        attempt.decline = result.decline or ""
        attempt.message = result.message[:255]
        attempt.completed_at = timezone.now()
        retry = result.outcome == Outcome.FAILED and result.retryable
        if retry:
            # Recorded (committed with this block), then retried later under the same key.
            attempt.status = GatewayAttempt.Status.FAILED
        elif method.state == PaymentMethod.State.VERIFYING:
            _record_verification(method, attempt, result)
        attempt.save()
    if retry:
        raise RetryLater(result.message)
    return method


def _record_verification(
    method: PaymentMethod, attempt: GatewayAttempt, result: GatewayResult
) -> None:
    now = timezone.now()
    action: AuditAction
    if result.outcome == Outcome.SUCCEEDED:
        attempt.status = GatewayAttempt.Status.SUCCEEDED
        method.state = PaymentMethod.State.AWAITING_APPROVAL
        method.credential = result.stored_credential
        method.verification_result = _("Passed the gateway's check")
        method.awaiting_since = now
        fields = ["state", "credential", "verification_result", "awaiting_since"]
        action = CARD_VERIFIED_BY_GATEWAY
    else:
        attempt.status = (
            GatewayAttempt.Status.DECLINED
            if result.outcome == Outcome.DECLINED
            else GatewayAttempt.Status.FAILED
        )
        method.state = PaymentMethod.State.REJECTED
        method.verification_result = f"{result.outcome}: {result.decline or ''}".strip(": ")
        method.decline_code = result.decline or "generic"
        method.decided_at = now
        fields = ["state", "verification_result", "decline_code", "decided_at"]
        action = CARD_DECLINED_BY_GATEWAY
    method.save(update_fields=fields)
    log_action(action, obj=method, account=method.account, gateway=result.outcome, **_card(method))
    _notify(method)


def payment_method_settle_setup(*, token: str) -> PaymentMethod | None:
    """The processor says a card setup changed (a webhook): record its verification now if
    the card still waits for it (what Stripe says is read again, never the event)."""
    method = PaymentMethod.objects.filter(token=token, state=PaymentMethod.State.VERIFYING).first()
    if method is None:
        return None
    try:
        return payment_method_verify(payment_method_id=method.pk)
    except RetryLater:
        return method


# The account as the processor knows it (Stripe's customer) ----------------------------------


def gateway_customer_reference(*, account: Account) -> str:
    """The account's customer at the card processor, if it has one yet."""
    found = GatewayCustomer.objects.filter(account=account, gateway=card_gateway().name).first()
    return found.reference if found else ""


def gateway_customer_for(*, account: Account) -> str:
    """The account's customer at the card processor, created once (a second creation under
    the same key gives the same customer; two requests at once keep the first)."""
    gateway = card_gateway()
    existing = gateway_customer_reference(account=account)
    if existing or not isinstance(gateway, BrowserConfirmedCards):
        return existing
    reference = gateway.customer_create(
        name=account.company_name,
        email=(account.billing_emails() or [""])[0],
        reference=str(account.pk),
        idempotency_key=f"customer:{account.pk}",
    )
    with transaction.atomic():
        account_lock(account.pk)
        customer, created = GatewayCustomer.objects.get_or_create(
            account=account, gateway=gateway.name, defaults={"reference": reference}
        )
        if created:
            log_action(CUSTOMER_CREATED, obj=customer, account=account, reference=reference)
    return customer.reference


def card_setup_start_for(*, account: Account) -> BrowserIntent | None:
    """A setup for the account's next card, confirmed by the browser (the Add Credit Card
    page); None with a processor that needs none, or that cannot be reached now."""
    gateway = card_gateway()
    if not isinstance(gateway, BrowserConfirmedCards):
        return None
    try:
        customer = gateway_customer_for(account=account)
        return gateway.card_setup_start(
            customer=customer, idempotency_key=f"setup:{account.pk}:{secrets.token_urlsafe(12)}"
        )
    except (GatewayTimeout, GatewayUnavailable):
        logger.warning("No card setup for account %s: the processor did not answer.", account.pk)
        return None


def payment_methods_stuck_verifying(*, now: datetime) -> list[int]:
    """The cards still verifying CARD_VERIFY_STUCK_MINUTES after they were added, with no
    verification tried in that time either: their task was lost (Redis down when the card
    was added, or emptied while the task waited for a retry). Verifying one again is
    harmless: `payment_method_verify` acts only on a card still verifying, and asks the
    gateway under the card's one idempotency key, so a card is checked and recorded once."""
    since = now - timedelta(minutes=settings.CARD_VERIFY_STUCK_MINUTES)
    recently_tried = GatewayAttempt.objects.filter(
        kind=GatewayAttempt.Kind.VERIFY, payment_method=OuterRef("pk")
    ).filter(Q(created_at__gt=since) | Q(completed_at__gt=since))
    return list(
        PaymentMethod.objects.filter(state=PaymentMethod.State.VERIFYING, created_at__lte=since)
        .exclude(Exists(recently_tried))
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:500]
    )


def payment_method_give_up_verifying(*, payment_method_id: int) -> None:
    """After the last retry: the card is rejected as not verifiable for now."""
    with transaction.atomic():
        method = payment_method_lock(payment_method_id)
        if method.state != PaymentMethod.State.VERIFYING:
            return
        method.state = PaymentMethod.State.REJECTED
        method.decline_code = "not_verifiable"
        method.decided_at = timezone.now()
        method.save(update_fields=["state", "decline_code", "decided_at"])
        log_action(CARD_NOT_VERIFIABLE, obj=method, account=method.account, **_card(method))
        _notify(method)


def _become_monthly(method: PaymentMethod) -> None:
    """Under the account's lock: `method` is now the account's one monthly card."""
    PaymentMethod.objects.filter(account=method.account, is_monthly=True).exclude(
        pk=method.pk
    ).update(is_monthly=False)
    method.is_monthly = True
    method.save(update_fields=["is_monthly"])
    hooks.monthly_card_set(method, timezone.now())


@transaction.atomic
def payment_method_approve(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """An account representative approves a card that passed the gateway's check.

    It becomes the account's monthly payment method when the account has none. Approving an
    approved card again changes nothing; any other state raises PaymentMethodError.
    """
    method = payment_method_lock(payment_method.pk)
    if method.state == PaymentMethod.State.VERIFIED:
        return method
    if method.state != PaymentMethod.State.AWAITING_APPROVAL:
        raise PaymentMethodError(_("Only a card awaiting approval can be approved."))
    method.state = PaymentMethod.State.VERIFIED
    method.decided_by = by
    method.decided_at = timezone.now()
    method.save(update_fields=["state", "decided_by", "decided_at"])
    log_action(CARD_APPROVED, obj=method, account=method.account, actor=by, **_card(method))
    if not PaymentMethod.objects.filter(account=method.account, is_monthly=True).exists():
        # The monthly card changed too: the activity log says so, as when chosen by hand.
        _become_monthly(method)
        log_action(CARD_MADE_MONTHLY, obj=method, account=method.account, actor=by, **_card(method))
    _notify(method)
    return method


@transaction.atomic
def payment_method_reject(*, payment_method: PaymentMethod, by: User, reason: str) -> PaymentMethod:
    """An account representative rejects a card awaiting approval, with a reason."""
    if not reason.strip():
        raise PaymentMethodError(_("Give the reason for rejecting the card."))
    method = payment_method_lock(payment_method.pk)
    if method.state == PaymentMethod.State.REJECTED:
        return method
    if method.state != PaymentMethod.State.AWAITING_APPROVAL:
        raise PaymentMethodError(_("Only a card awaiting approval can be rejected."))
    method.state = PaymentMethod.State.REJECTED
    method.rejection_reason = reason.strip()[:255]
    method.decided_by = by
    method.decided_at = timezone.now()
    method.save(update_fields=["state", "rejection_reason", "decided_by", "decided_at"])
    log_action(
        CARD_REJECTED,
        obj=method,
        account=method.account,
        actor=by,
        reason=method.rejection_reason,
        **_card(method),
    )
    _notify(method)
    return method


@transaction.atomic
def payment_method_set_monthly(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """Make a verified card the account's monthly payment method (one per account)."""
    method = payment_method_lock(payment_method.pk)
    if method.state != PaymentMethod.State.VERIFIED:
        raise PaymentMethodError(_("Only a verified card can be the monthly payment method."))
    if method.is_monthly:
        return method
    _become_monthly(method)
    log_action(CARD_MADE_MONTHLY, obj=method, account=method.account, actor=by, **_card(method))
    return method


@transaction.atomic
def payment_method_remove(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """Remove a card from the account; it is no longer charged or offered."""
    method = payment_method_lock(payment_method.pk)
    if method.state == PaymentMethod.State.REMOVED:
        return method
    method.state = PaymentMethod.State.REMOVED
    method.is_monthly = False
    method.save(update_fields=["state", "is_monthly"])
    log_action(CARD_REMOVED, obj=method, account=method.account, actor=by, **_card(method))
    _notify(method)
    return method


def _card(method: PaymentMethod) -> dict[str, Any]:
    """What an audit entry says of a card: its brand and last four digits, nothing more."""
    return {"brand": method.brand, "last4": method.last4}


def _notify(method: PaymentMethod) -> None:
    """Email the card's contact about its new state (outbox, in the account's language)."""
    account = method.account
    context = {
        "method": method,
        "account": account,
        "promise_hours": settings.CARD_PROMISE_HOURS,
        "url": settings.SITE_URL.rstrip("/") + reverse("payments:methods"),
    }
    email_queue(
        key=f"payments.payment_method.{method.pk}.{method.state}",
        account=account,
        to=[method.contact_email],
        email=render_email("payments/email/card_status", context, language=account.language),
    )


# The promise to decide within CARD_PROMISE_HOURS, and the cards' expiry (periodic tasks) ------


def _representatives() -> list[str]:
    """Staff who may approve cards: the people an escalation goes to."""
    reps = (
        User.objects.filter(is_active=True, is_staff=True)
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__codename="approve_paymentmethod")
            | Q(groups__permissions__codename="approve_paymentmethod")
        )
        .distinct()
    )
    return sorted(reps.values_list("email", flat=True))


def payment_methods_check_promise(*, now: datetime) -> tuple[int, int]:
    """Escalate cards still undecided after CARD_ESCALATE_AFTER_HOURS to the representatives,
    and record a breach of the promise at CARD_PROMISE_HOURS. Each happens once per card,
    however often this runs; no card is ever approved automatically.

    Returns how many cards were escalated and how many breached now.
    """
    pending = PaymentMethod.objects.filter(state__in=PaymentMethod.PENDING_STATES)
    escalate = pending.filter(
        escalated_at__isnull=True,
        created_at__lte=now - timedelta(hours=settings.CARD_ESCALATE_AFTER_HOURS),
    )
    breach = pending.filter(
        promise_breached_at__isnull=True,
        created_at__lte=now - timedelta(hours=settings.CARD_PROMISE_HOURS),
    )
    escalated = sum(_escalate(pk, now=now) for pk in escalate.values_list("pk", flat=True))
    breached = sum(_breach(pk, now=now) for pk in breach.values_list("pk", flat=True))
    return escalated, breached


def _escalate(pk: int, *, now: datetime) -> int:
    return _mark_overdue(pk, now=now, field="escalated_at", kind="escalated", action=CARD_ESCALATED)


def _breach(pk: int, *, now: datetime) -> int:
    return _mark_overdue(
        pk, now=now, field="promise_breached_at", kind="breached", action=CARD_PROMISE_BREACHED
    )


@transaction.atomic
def _mark_overdue(pk: int, *, now: datetime, field: str, kind: str, action: AuditAction) -> int:
    method = payment_method_lock(pk)
    if getattr(method, field) is not None or not method.is_pending:
        return 0
    setattr(method, field, now)
    method.save(update_fields=[field])
    log_action(action, obj=method, account=method.account, **_card(method))
    context = {
        "method": method,
        "breached": action == CARD_PROMISE_BREACHED,
        "promise_hours": settings.CARD_PROMISE_HOURS,
        "hours": (now - method.created_at).total_seconds() // 3600,
        "url": settings.SITE_URL.rstrip("/")
        + reverse("admin:payments_paymentmethod_changelist")
        + "?queue=awaiting",
    }
    email_queue(
        key=f"payments.payment_method.{method.pk}.{kind}",
        account=method.account,
        to=_representatives(),
        # Staff read the portal's default language.
        email=render_email("payments/email/card_overdue", context, language=settings.LANGUAGE_CODE),
    )
    return 1


def payment_methods_expire(*, today: date) -> tuple[int, int]:
    """Mark the cards past their expiry month expired (an expired monthly card stops being the
    monthly one) and warn the contacts of cards that expire within CARD_EXPIRY_WARNING_DAYS.

    Returns how many cards expired and how many warnings were sent now.
    """
    live = PaymentMethod.objects.filter(
        state__in=[PaymentMethod.State.VERIFIED, *PaymentMethod.PENDING_STATES],
        exp_year__lte=today.year + 1,
    )
    expired = warned = 0
    horizon = today + timedelta(days=settings.CARD_EXPIRY_WARNING_DAYS)
    for method in live.only("pk", "exp_month", "exp_year", "expiry_warned_at", "state"):
        expires_on = method.expires_on
        if expires_on is None:
            continue
        if expires_on <= today:
            expired += _expire(method.pk)
        elif (
            expires_on <= horizon
            and method.expiry_warned_at is None
            and method.state == PaymentMethod.State.VERIFIED
        ):
            warned += _warn_expiry(method.pk)
    return expired, warned


@transaction.atomic
def _expire(pk: int) -> int:
    method = payment_method_lock(pk)
    if method.state not in (PaymentMethod.State.VERIFIED, *PaymentMethod.PENDING_STATES):
        return 0
    was_monthly = method.is_monthly
    method.state = PaymentMethod.State.EXPIRED
    method.is_monthly = False
    method.save(update_fields=["state", "is_monthly"])
    log_action(CARD_EXPIRED, obj=method, account=method.account, **_card(method))
    _notify(method)
    if was_monthly:
        # Nothing will be charged automatically any more: the apps above say so now.
        hooks.monthly_card_lost(method, timezone.now())
    return 1


@transaction.atomic
def _warn_expiry(pk: int) -> int:
    method = payment_method_lock(pk)
    if method.expiry_warned_at is not None:
        return 0
    method.expiry_warned_at = timezone.now()
    method.save(update_fields=["expiry_warned_at"])
    context = {
        "method": method,
        "account": method.account,
        "url": settings.SITE_URL.rstrip("/") + reverse("payments:add"),
    }
    email_queue(
        key=f"payments.payment_method.{method.pk}.expiring",
        account=method.account,
        to=[method.contact_email],
        email=render_email(
            "payments/email/card_expiring", context, language=method.account.language
        ),
    )
    log_action(CARD_EXPIRY_WARNED, obj=method, account=method.account, **_card(method))
    return 1
