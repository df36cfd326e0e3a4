"""Cards on file: adding, verifying with the gateway, approving, choosing and removing them.

Every change of a card's state locks the card, checks its current state, records who did it
in the audit trail and emails the contact given when the card was added (through the
outbox, in the account's language). No database lock is held while the gateway is called.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Account, User, log_action
from accounts.outbox import email_queue

from .dunning import autocharges_resume
from .gateways import card_gateway
from .gateways.base import (
    DeclineCategory,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidToken,
    Outcome,
)
from .models import DECLINE_REASONS, GatewayAttempt, Payment, PaymentMethod
from .notices import notify_card_unusable


class PaymentMethodError(ValueError):
    """A request about a card that cannot be carried out; the message is for the customer."""


class TooManyAttempts(PaymentMethodError):
    """The card-testing defence: too many cards added from here recently."""


class RetryLater(Exception):
    """The gateway could not answer now; the verification is tried again later."""


def decline_reason(decline: DeclineCategory | None) -> str:
    """The reason in plain words, in the active language."""
    return str(DECLINE_REASONS.get(decline or "generic", DECLINE_REASONS["generic"]))


@dataclass(frozen=True)
class BillingAddress:
    address_line1: str
    address_line2: str
    city: str
    region: str
    postal_code: str
    country: str

    @classmethod
    def of_account(cls, account: Account) -> BillingAddress:
        """The account's company address, as "Use company information" fills it in."""
        return cls(**account.address_values())


def card_attempts_exceeded(*, account: Account, user: User, ip: str | None) -> bool:
    """The card-testing defence: cards added and one-time card payments tried in the last
    hour, by this account, this user or this client address, counted together."""
    hour = timezone.now() - timedelta(hours=1)
    added = PaymentMethod.objects.filter(created_at__gte=hour)
    paid = Payment.objects.filter(created_at__gte=hour, method=Payment.Method.CARD)
    limit = settings.CARD_ATTEMPTS_PER_HOUR
    return (
        added.filter(account=account).count() + paid.filter(account=account).count() >= limit
        or added.filter(created_by=user).count() + paid.filter(created_by=user).count() >= limit
        or bool(
            ip and added.filter(created_ip=ip).count() + paid.filter(created_ip=ip).count() >= limit
        )
    )


def _check_limits(*, account: Account, user: User, ip: str | None) -> None:
    window = timezone.now() - timedelta(days=settings.CARD_NEW_WINDOW_DAYS)
    if card_attempts_exceeded(account=account, user=user, ip=ip):
        raise TooManyAttempts(_("Too many cards were tried recently. Try again in an hour."))
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
    _check_limits(account=account, user=by, ip=ip)
    gateway = card_gateway()
    try:
        card = gateway.describe_token(token)
    except InvalidToken as error:
        raise PaymentMethodError(
            _("The card details could not be read. Enter the card again.")
        ) from error
    today = timezone.localdate()
    if (card.exp_year, card.exp_month) < (today.year, today.month):
        raise PaymentMethodError(_("The card has expired."))
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account.pk)
        if PaymentMethod.objects.filter(token=token).exists():
            raise PaymentMethodError(_("The card details could not be read. Enter the card again."))
        method = PaymentMethod.objects.create(
            account=account,
            gateway=gateway.name,
            token=token,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder=card.holder,
            contact_email=contact_email,
            created_by=by,
            created_ip=ip,
            **address.__dict__,
        )
        if eu_supported and not account.eu_supported:
            account.eu_supported = True
            account.save(update_fields=["eu_supported"])
        log_action("payments.payment_method.added", obj=method, account=account, actor=by)
        _notify(method)
        from .tasks import payment_method_verify_task

        payment_method_verify_task.delay(method.pk)
    return method


def payment_method_verify(payment_method_id: int) -> PaymentMethod:
    """Run the gateway's zero-amount verification of a Verifying card and record the outcome.

    The attempt is committed before the gateway is called and no lock is held during the
    call. Raises RetryLater when the gateway could not answer (the card stays Verifying).
    """
    key = f"verify:{payment_method_id}"
    with transaction.atomic():
        method = PaymentMethod.objects.select_for_update().get(pk=payment_method_id)
        if method.state != PaymentMethod.State.VERIFYING:
            return method
        attempt, _created = GatewayAttempt.objects.get_or_create(
            idempotency_key=key,
            defaults={
                "gateway": method.gateway,
                "kind": GatewayAttempt.Kind.VERIFY,
                "payment_method": method,
            },
        )
    gateway = card_gateway()
    try:
        result = gateway.verify_card(token=method.token, idempotency_key=key)
    except (GatewayTimeout, GatewayUnavailable) as error:
        GatewayAttempt.objects.filter(pk=attempt.pk).update(
            status=GatewayAttempt.Status.UNKNOWN, message=str(error)[:255]
        )
        raise RetryLater(str(error)) from error

    with transaction.atomic():
        method = PaymentMethod.objects.select_for_update().get(pk=payment_method_id)
        attempt = GatewayAttempt.objects.select_for_update().get(pk=attempt.pk)
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
    if result.outcome == Outcome.SUCCEEDED:
        attempt.status = GatewayAttempt.Status.SUCCEEDED
        method.state = PaymentMethod.State.AWAITING_APPROVAL
        method.credential = result.stored_credential
        method.verification_result = _("Passed the gateway's check")
        method.awaiting_since = now
        fields = ["state", "credential", "verification_result", "awaiting_since"]
        action = "payments.payment_method.verified_by_gateway"
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
        action = "payments.payment_method.declined_by_gateway"
    method.save(update_fields=fields)
    log_action(action, obj=method, account=method.account, gateway=result.outcome)
    _notify(method)


def payment_method_give_up_verifying(payment_method_id: int) -> None:
    """After the last retry: the card is rejected as not verifiable for now."""
    with transaction.atomic():
        method = PaymentMethod.objects.select_for_update().get(pk=payment_method_id)
        if method.state != PaymentMethod.State.VERIFYING:
            return
        method.state = PaymentMethod.State.REJECTED
        method.decline_code = "not_verifiable"
        method.decided_at = timezone.now()
        method.save(update_fields=["state", "decline_code", "decided_at"])
        log_action("payments.payment_method.not_verifiable", obj=method, account=method.account)
        _notify(method)


def _lock_for_decision(method: PaymentMethod) -> PaymentMethod:
    # The account first (the one monthly card is the account's), then the card.
    Account.objects.select_for_update().filter(pk=method.account_id).first()
    return PaymentMethod.objects.select_for_update().select_related("account").get(pk=method.pk)


@transaction.atomic
def payment_method_approve(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """An account representative approves a card that passed the gateway's check.

    It becomes the account's monthly payment method when the account has none. Approving an
    approved card again changes nothing; any other state raises PaymentMethodError.
    """
    method = _lock_for_decision(payment_method)
    if method.state == PaymentMethod.State.VERIFIED:
        return method
    if method.state != PaymentMethod.State.AWAITING_APPROVAL:
        raise PaymentMethodError(_("Only a card awaiting approval can be approved."))
    method.state = PaymentMethod.State.VERIFIED
    method.decided_by = by
    method.decided_at = timezone.now()
    method.save(update_fields=["state", "decided_by", "decided_at"])
    has_monthly = PaymentMethod.objects.filter(account=method.account, is_monthly=True).exists()
    if not has_monthly:
        method.is_monthly = True
        method.save(update_fields=["is_monthly"])
        autocharges_resume(method.account, timezone.now())
    log_action("payments.payment_method.approved", obj=method, account=method.account, actor=by)
    _notify(method)
    return method


@transaction.atomic
def payment_method_reject(*, payment_method: PaymentMethod, by: User, reason: str) -> PaymentMethod:
    """An account representative rejects a card awaiting approval, with a reason."""
    if not reason.strip():
        raise PaymentMethodError(_("Give the reason for rejecting the card."))
    method = _lock_for_decision(payment_method)
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
        "payments.payment_method.rejected",
        obj=method,
        account=method.account,
        actor=by,
        reason=method.rejection_reason,
    )
    _notify(method)
    return method


@transaction.atomic
def payment_method_set_monthly(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """Make a verified card the account's monthly payment method (one per account)."""
    method = _lock_for_decision(payment_method)
    if method.state != PaymentMethod.State.VERIFIED:
        raise PaymentMethodError(_("Only a verified card can be the monthly payment method."))
    if method.is_monthly:
        return method
    PaymentMethod.objects.filter(account=method.account, is_monthly=True).update(is_monthly=False)
    method.is_monthly = True
    method.save(update_fields=["is_monthly"])
    autocharges_resume(method.account, timezone.now())
    log_action("payments.payment_method.made_monthly", obj=method, account=method.account, actor=by)
    return method


@transaction.atomic
def payment_method_remove(*, payment_method: PaymentMethod, by: User) -> PaymentMethod:
    """Remove a card from the account; it is no longer charged or offered."""
    method = _lock_for_decision(payment_method)
    if method.state == PaymentMethod.State.REMOVED:
        return method
    method.state = PaymentMethod.State.REMOVED
    method.is_monthly = False
    method.save(update_fields=["state", "is_monthly"])
    log_action("payments.payment_method.removed", obj=method, account=method.account, actor=by)
    _notify(method)
    return method


def _notify(method: PaymentMethod) -> None:
    """Email the card's contact about its new state (outbox, in the account's language)."""
    account = method.account
    with translation.override(account.language):
        context: dict[str, Any] = {
            "method": method,
            "account": account,
            "url": settings.SITE_URL.rstrip("/") + reverse("payments:methods"),
        }
        subject = render_to_string("payments/email/card_status_subject.txt", context)
        body = render_to_string("payments/email/card_status_body.txt", context)
    email_queue(
        key=f"payments.payment_method.{method.pk}.{method.state}",
        account=account,
        to=[method.contact_email],
        subject=" ".join(subject.split()),
        body=body,
    )


# The 24-hour promise and the cards' expiry (periodic tasks) ----------------------------------


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
    escalated = breached = 0
    for pk in escalate.values_list("pk", flat=True):
        escalated += _mark_overdue(pk, now=now, field="escalated_at", kind="escalated")
    for pk in breach.values_list("pk", flat=True):
        breached += _mark_overdue(pk, now=now, field="promise_breached_at", kind="breached")
    return escalated, breached


@transaction.atomic
def _mark_overdue(pk: int, *, now: datetime, field: str, kind: str) -> int:
    method = PaymentMethod.objects.select_for_update().select_related("account").get(pk=pk)
    if getattr(method, field) is not None or not method.is_pending:
        return 0
    setattr(method, field, now)
    method.save(update_fields=[field])
    log_action(f"payments.payment_method.{kind}", obj=method, account=method.account)
    context = {
        "method": method,
        "kind": kind,
        "hours": (now - method.created_at).total_seconds() // 3600,
        "url": settings.SITE_URL.rstrip("/")
        + reverse("admin:payments_paymentmethod_changelist")
        + "?queue=awaiting",
    }
    email_queue(
        key=f"payments.payment_method.{method.pk}.{kind}",
        account=method.account,
        to=_representatives(),
        subject=" ".join(
            render_to_string("payments/email/card_overdue_subject.txt", context).split()
        ),
        body=render_to_string("payments/email/card_overdue_body.txt", context),
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
            warned += _warn_expiry(method.pk, today=today)
    return expired, warned


@transaction.atomic
def _expire(pk: int) -> int:
    method = _lock_for_decision(PaymentMethod.objects.only("pk", "account_id").get(pk=pk))
    if method.state not in (PaymentMethod.State.VERIFIED, *PaymentMethod.PENDING_STATES):
        return 0
    was_monthly = method.is_monthly
    method.state = PaymentMethod.State.EXPIRED
    method.is_monthly = False
    method.save(update_fields=["state", "is_monthly"])
    log_action("payments.payment_method.expired", obj=method, account=method.account)
    _notify(method)
    if was_monthly:
        # Nothing will be charged automatically any more: say so now, not at the next bill.
        notify_card_unusable(method)
    return 1


@transaction.atomic
def _warn_expiry(pk: int, *, today: date) -> int:
    method = PaymentMethod.objects.select_for_update().select_related("account").get(pk=pk)
    if method.expiry_warned_at is not None:
        return 0
    method.expiry_warned_at = timezone.now()
    method.save(update_fields=["expiry_warned_at"])
    with translation.override(method.account.language):
        context = {
            "method": method,
            "account": method.account,
            "url": settings.SITE_URL.rstrip("/") + reverse("payments:add"),
        }
        subject = render_to_string("payments/email/card_expiring_subject.txt", context)
        body = render_to_string("payments/email/card_expiring_body.txt", context)
    email_queue(
        key=f"payments.payment_method.{method.pk}.expiring",
        account=method.account,
        to=[method.contact_email],
        subject=" ".join(subject.split()),
        body=body,
    )
    log_action("payments.payment_method.expiry_warned", obj=method, account=method.account)
    return 1
