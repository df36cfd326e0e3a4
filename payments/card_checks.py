"""What every card that reaches the portal is checked against, whether it goes on file or
pays once: its billing address, its expiry, and the card-testing defence."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

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


def card_attempts_exceeded(*, account: Account, user: User, ip: str | None) -> bool:
    """Cards added and one-time card payments tried in the last hour, by this account, this
    user or this client address, counted together."""
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


def check_card_attempts(*, account: Account, user: User, ip: str | None) -> None:
    """Raise TooManyAttempts past the hourly limit.

    Every path that records a card attempt asks twice: before any gateway call, a quick
    refusal; and in the transaction that records the attempt, after `card_attempts_lock`
    (`lock_and_check_card_attempts`), where the count is exact: requests arriving at once
    are counted one after the other there, never all against the count of before.
    """
    if card_attempts_exceeded(account=account, user=user, ip=ip):
        raise TooManyAttempts(_("Too many cards were tried recently. Try again in an hour."))


def lock_and_check_card_attempts(*, account: Account, user: User, ip: str | None) -> None:
    """Inside the transaction that records a card attempt, with `account` locked: take the
    user's and the address's card-testing locks, then raise TooManyAttempts past the
    hourly limit. The attempt recorded in the same transaction is counted by the next."""
    card_attempts_lock(user_id=user.pk, ip=ip)
    check_card_attempts(account=account, user=user, ip=ip)
