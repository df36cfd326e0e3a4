"""What the payments services refuse. The message of each is for the customer (or, for a
refund, the representative); when one is raised, nothing was charged or changed."""

from __future__ import annotations

from django.utils.translation import gettext as _


class PaymentsError(ValueError):
    """A request the payment rules do not allow."""


class PaymentMethodError(PaymentsError):
    """A request about a card on file that cannot be carried out."""


class PaymentError(PaymentsError):
    """A payment that cannot be made."""


class RefundError(PaymentsError):
    """A refund that cannot be made."""


class TooManyAttempts(PaymentsError):
    """The card-testing defence: too many cards tried from here recently (adding cards and
    paying once by card count together). Without a message, it says the hourly limit's."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("Too many cards were tried recently. Try again in an hour."))
