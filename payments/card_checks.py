"""What every card that reaches the portal is checked against, whether it goes on file or
pays once: its billing address, its expiry, and the card-testing defence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, User

from .errors import TooManyAttempts
from .gateways.base import Card
from .locks import card_attempts_lock
from .models import Payment, PaymentMethod


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

    def as_fields(self) -> dict[str, str]:
        return asdict(self)


def card_expired(card: Card, today: date | None = None) -> bool:
    """Past its expiry month."""
    today = today or timezone.localdate()
    return (card.exp_year, card.exp_month) < (today.year, today.month)


# Verifications that ended for want of an answer from the gateway: not the card's doing.
_NOT_THE_CARDS_DOING = ("not_verifiable",)


@dataclass(frozen=True)
class _Scope:
    """Whose card attempts are counted together: an account's, a user's (across accounts) or
    a client address's."""

    field: str
    value: object


def _scopes(account: Account, user: User, ip: str | None) -> list[_Scope]:
    scopes = [_Scope("account", account), _Scope("created_by", user)]
    if ip:
        scopes.append(_Scope("created_ip", ip))
    return scopes


def _failures(scope: _Scope, since: datetime) -> int:
    """Card attempts that went wrong, or have no answer yet (so that attempts made at once
    are counted before they are answered): one-time card payments declined or still in
    flight, cards the gateway refused or is still checking. A payment that went through, or
    a card that passed the gateway's check, is not counted: that is a customer paying."""
    where = {scope.field: scope.value, "created_at__gte": since}
    cards = (
        PaymentMethod.objects.filter(**where)
        .filter(
            Q(state=PaymentMethod.State.VERIFYING)
            | (~Q(decline_code="") & ~Q(decline_code__in=_NOT_THE_CARDS_DOING))
        )
        .count()
    )
    payments = (
        Payment.objects.filter(**where, method=Payment.Method.CARD)
        .filter(state__in=[Payment.State.DECLINED, *Payment.IN_FLIGHT])
        .count()
    )
    return cards + payments


def _cards_tried(scope: _Scope, since: datetime) -> tuple[set[str], int]:
    """The fingerprints of the different cards tried (added or paid with, whatever came of
    it), and how many tries there were of a card not known yet (a card confirmed in the
    browser is known once the processor answers): each may be another card."""
    where = {scope.field: scope.value, "created_at__gte": since}
    added = PaymentMethod.objects.filter(**where).values_list("fingerprint", flat=True)
    paid = Payment.objects.filter(**where, method=Payment.Method.CARD).values_list(
        "fingerprint", flat=True
    )
    fingerprints = [*added, *paid]
    return {f for f in fingerprints if f}, sum(1 for f in fingerprints if not f)


def card_attempts_exceeded(
    *,
    account: Account,
    user: User,
    ip: str | None,
    fingerprint: str = "",
    count_cards: bool = True,
) -> bool:
    """Whether this account, this user or this client address has tried cards the way card
    testing does, within the last hour: CARD_DECLINES_PER_HOUR attempts declined (or not
    answered yet), or CARD_DISTINCT_PER_HOUR different cards already with this one another
    (`fingerprint`: the card about to be tried; empty when the processor tells it only
    later: then it is taken for another card). A customer paying again and again with a
    card that works, or trying again the card just tried, is never stopped by the second
    count. Without `count_cards` (the quick look before the card is described) only the
    first is counted."""
    since = timezone.now() - timedelta(hours=1)
    for scope in _scopes(account, user, ip):
        if _failures(scope, since) >= settings.CARD_DECLINES_PER_HOUR:
            return True
        if not count_cards:
            continue
        known, unknown = _cards_tried(scope, since)
        if fingerprint and fingerprint in known:
            continue
        if len(known) + unknown >= settings.CARD_DISTINCT_PER_HOUR:
            return True
    return False


def check_card_attempts(
    *,
    account: Account,
    user: User,
    ip: str | None,
    fingerprint: str = "",
    count_cards: bool = True,
) -> None:
    """Raise TooManyAttempts past the card-testing limits (`card_attempts_exceeded`).

    Every path that records a card attempt asks twice: before any gateway call, a quick
    refusal; and in the transaction that records the attempt, after `card_attempts_lock`
    (`lock_and_check_card_attempts`), where the count is exact: requests arriving at once
    are counted one after the other there, never all against the count of before (each is
    counted from the moment it is recorded: until it is answered, as a failure).
    """
    if card_attempts_exceeded(
        account=account, user=user, ip=ip, fingerprint=fingerprint, count_cards=count_cards
    ):
        raise TooManyAttempts


def lock_and_check_card_attempts(
    *, account: Account, user: User, ip: str | None, fingerprint: str = ""
) -> None:
    """Inside the transaction that records a card attempt, with `account` locked: take the
    user's and the address's card-testing locks, then raise TooManyAttempts past the
    limits, with the card about to be tried (`fingerprint`; empty when the processor tells
    it only later). The attempt recorded in the same transaction is counted by the next."""
    card_attempts_lock(user_id=user.pk, ip=ip)
    check_card_attempts(account=account, user=user, ip=ip, fingerprint=fingerprint)
