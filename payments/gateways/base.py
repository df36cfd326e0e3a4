"""The one small interface every payment gateway adapter implements.

Only the payments services call a gateway; views and forms never do. Every call carries an
idempotency key, so that asking twice (a retried task) never moves money twice, and a call
whose answer was lost can be looked up later instead of being made again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    DECLINED = "declined"
    # The gateway answered that it could not process the request; nothing happened.
    FAILED = "failed"


class DeclineCategory(StrEnum):
    GENERIC = "generic"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    # Fraud-class declines are only ever shown to the customer as "declined".
    FRAUD = "fraud"


class GatewayTimeout(Exception):
    """No answer in time: the request may or may not have been carried out."""


class InvalidToken(Exception):
    """The single-use token is unknown, forged or already used."""


class GatewayUnavailable(Exception):
    """The gateway could not be reached: the request was not carried out."""


@dataclass(frozen=True)
class Card:
    """What a gateway tells about a tokenised card: never its number or security code."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str = ""


@dataclass(frozen=True)
class GatewayResult:
    outcome: Outcome
    reference: str = ""
    decline: DeclineCategory | None = None
    message: str = ""
    retryable: bool = False
    card: Card | None = None
    # A reusable reference for charging the card later (a customer/payment-method id).
    stored_credential: str = ""
    extra: dict[str, str] = field(default_factory=dict)


class CardGateway(Protocol):
    name: str
    # Where the gateway serves its card fields, framed by the portal's card forms.
    card_fields_url: str

    def describe_token(self, token: str) -> Card:
        """The card behind an unused single-use token; raises InvalidToken otherwise."""
        ...

    def verify_card(self, *, token: str, idempotency_key: str) -> GatewayResult:
        """A zero-amount authorisation of a single-use token; on success the result carries
        the card's details and a stored credential for later charges."""
        ...

    def charge(
        self, *, credential: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def lookup(self, *, idempotency_key: str) -> GatewayResult | None:
        """What became of an earlier request, or None if the gateway never received it."""
        ...
