"""The one small interface every payment gateway adapter implements.

Only the payments services call a gateway, through `payments.gateway`; views and forms never
do. Every call carries an idempotency key, so that asking twice (a retried task) never moves
money twice, and a call whose answer was lost can be looked up later instead of being made
again. An adapter builds itself from the settings (`from_settings`) and says whether it moves
real money (`live`): `manage.py check --deploy` warns about one that does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, Self, runtime_checkable


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PENDING = "pending"
    DECLINED = "declined"
    # The gateway answered that it could not process the request; nothing happened.
    FAILED = "failed"
    # The bank asks the customer to confirm (3-D Secure): nothing moves until they do.
    REQUIRES_ACTION = "requires_action"


class DeclineCategory(StrEnum):
    GENERIC = "generic"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    EXPIRED_CARD = "expired_card"
    INCORRECT_CVC = "incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    # The bank's check of the customer (3-D Secure) failed or was abandoned.
    AUTHENTICATION_FAILED = "authentication_failed"
    # The bank asked the customer to confirm an automatic charge, and it was not confirmed.
    AUTHENTICATION_REQUIRED = "authentication_required"
    # Fraud-class declines are only ever shown to the customer as "declined".
    FRAUD = "fraud"
    # An amount the processor does not take (`amount_problem`), refused before any call.
    BELOW_MINIMUM = "below_minimum"
    NOT_REPRESENTABLE = "not_representable"


class GatewayTimeout(Exception):
    """No answer in time: the request may or may not have been carried out. `reference` is
    the gateway's id of what the request acted on, when the caller already knew it (a
    payment created, then confirmed): the look-up that settles it asks by that id."""

    def __init__(self, message: str = "", *, reference: str = "") -> None:
        super().__init__(message)
        self.reference = reference


class InvalidToken(Exception):
    """The single-use token is unknown, forged or already used."""


class GatewayUnavailable(Exception):
    """The gateway could not be reached: the request was not carried out."""


class GatewayRefused(Exception):
    """The gateway refused the request as made (an amount it does not take): nothing was
    done, and the same request would be refused again."""


@dataclass(frozen=True)
class Card:
    """What a gateway tells about a tokenised card: never its number or security code."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int
    holder: str = ""
    # The same card gives the same fingerprint, whoever adds it (never the number itself).
    fingerprint: str = ""


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
    # False for a processor that only plays one (the sandbox, a test mode).
    live: bool
    # The template that puts the gateway's own card fields on the portal's card forms: they
    # hand the form a single-use token (`card_token`) and the card never reaches the portal.
    card_fields_template: str
    # The origins the card fields load from and talk to, by CSP directive ("script-src":
    # [...], "frame-src": [...], "connect-src": [...]); empty for the portal's own origin.
    card_fields_csp: Mapping[str, Sequence[str]]

    @classmethod
    def from_settings(cls) -> Self: ...

    def card_fields_context(self) -> dict[str, Any]:
        """What `card_fields_template` needs (the fields' URL, a publishable key...)."""
        ...

    def describe_token(self, token: str) -> Card:
        """The card behind an unused single-use token; raises InvalidToken otherwise."""
        ...

    def verify_card(self, *, token: str, idempotency_key: str) -> GatewayResult:
        """A zero-amount authorisation of a single-use token; on success the result carries
        the card's details and a stored credential for later charges."""
        ...

    def charge(
        self,
        *,
        credential: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        on_reference: Callable[[str], None] | None = None,
    ) -> GatewayResult:
        """Charge a card on file through its stored credential. A gateway that gives the
        charge an id before it can move money calls `on_reference` with it first, so that
        the caller records it (and a worker that dies before the answer leaves a charge
        that is found by its id)."""
        ...

    def charge_token(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        """Charge a one-time card through its single-use token; nothing reusable is kept."""
        ...

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def lookup(
        self, *, idempotency_key: str, reference: str = "", credential: str = ""
    ) -> GatewayResult | None:
        """What became of an earlier request (found by its reference when one is known, else
        by its idempotency key, among the charges of `credential`'s card when it was a card
        on file), or None if the gateway never received it."""
        ...

    def lookup_refund(
        self, *, idempotency_key: str, charge_reference: str, reference: str = ""
    ) -> GatewayResult | None:
        """What became of an earlier refund of `charge_reference`, or None if never received."""
        ...

    def amount_problem(self, amount: Decimal, currency: str) -> AmountProblem | None:
        """Why the processor would refuse to charge `amount` (below its minimum, say)."""
        ...

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The webhook's event when its signature is the processor's; None for anything else."""
        ...

    def webhook_subject(self, event: Mapping[str, Any]) -> WebhookSubject | None:
        """What a verified event is about, or None for an event the portal does not follow."""
        ...


class AmountProblemKind(StrEnum):
    BELOW_MINIMUM = "below_minimum"
    NOT_REPRESENTABLE = "not_representable"


@dataclass(frozen=True)
class AmountProblem:
    kind: AmountProblemKind
    # The smallest amount the processor takes, for BELOW_MINIMUM.
    minimum: Decimal | None = None


@dataclass(frozen=True)
class WebhookSubject:
    """A webhook event's object: a payment ("payment"), a card being set up ("setup") or a
    refund ("refund"), by the processor's reference."""

    kind: str
    reference: str


@dataclass(frozen=True)
class BrowserIntent:
    """An intent created on the server and confirmed by the customer's browser with the
    processor (a Stripe SetupIntent or PaymentIntent): its reference and the secret the
    browser confirms it with (never stored)."""

    reference: str
    client_secret: str
    # The card to confirm with, when the processor needs it given again (an automatic
    # charge the bank asked the customer to confirm).
    payment_method: str = ""


@runtime_checkable
class BrowserConfirmedCards(Protocol):
    """A card gateway whose fields confirm with the processor in the browser, with the
    bank's challenge when it asks (Stripe). Saving a card starts with a setup intent for the
    account's customer at the processor; paying once starts with a payment intent for the
    amount, created by the server when the customer presses Pay; a charge the bank asked
    the customer to confirm is confirmed on a page of its own (`confirmation_template`)."""

    confirmation_template: str

    def customer_create(
        self, *, name: str, email: str, reference: str, idempotency_key: str
    ) -> str:
        """The processor's customer for an account; its id."""
        ...

    def card_setup_start(self, *, customer: str, idempotency_key: str) -> BrowserIntent: ...

    def card_setup_customer(self, *, token: str) -> str:
        """The customer a card setup was started for; raises InvalidToken for an unknown one."""
        ...

    def card_payment_start(
        self,
        *,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> BrowserIntent: ...

    def card_payment_secret(self, *, reference: str) -> BrowserIntent:
        """The secret to confirm an existing payment intent with (a charge the bank asked the
        customer to confirm)."""
        ...

    def card_payment_cancel(self, *, reference: str) -> GatewayResult:
        """Cancel a payment intent nobody will confirm; the answer is its final state (a
        success if it succeeded meanwhile)."""
        ...


# PayPal: the customer approves an order on PayPal's page; the portal creates and captures it.


# The currencies PayPal takes payments in (its REST API's currency codes); BHD, for one, is
# not among them.
PAYPAL_CURRENCIES = frozenset(
    {
        "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
        "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
    }
)  # fmt: skip


class PayPalOrderStatus(StrEnum):
    CREATED = "CREATED"
    SAVED = "SAVED"
    APPROVED = "APPROVED"
    VOIDED = "VOIDED"
    COMPLETED = "COMPLETED"
    PAYER_ACTION_REQUIRED = "PAYER_ACTION_REQUIRED"


@dataclass(frozen=True)
class PayPalOrder:
    """An order as PayPal tells it: where the customer approves it, and its capture if any
    (`capture.reference` is the capture's id, `capture.outcome` its status)."""

    id: str
    status: PayPalOrderStatus
    approve_url: str = ""
    capture: GatewayResult | None = None


class PayPalGateway(Protocol):
    """PayPal's Orders v2 (or the sandbox's imitation). Every call that changes something
    carries a request id (PayPal-Request-Id), so that repeating it changes nothing more.

    Calls raise GatewayTimeout when no answer came (the change may have happened) and
    GatewayUnavailable when PayPal could not be reached or refused to act (it did not).
    """

    name: str
    live: bool

    @classmethod
    def from_settings(cls) -> Self: ...

    def create_order(
        self,
        *,
        amount: Decimal,
        currency: str,
        reference: str,
        description: str,
        return_url: str,
        cancel_url: str,
        locale: str,
        request_id: str,
    ) -> PayPalOrder:
        """An order for `amount` with intent CAPTURE; the customer approves it at
        `approve_url` and comes back to `return_url` (or `cancel_url`)."""
        ...

    def capture_order(self, *, order_id: str, request_id: str) -> GatewayResult:
        """Capture an approved order: SUCCEEDED only for a COMPLETED capture, PENDING for a
        pending one, DECLINED for a declined one, FAILED when PayPal refused (not approved)."""
        ...

    def get_order(self, *, order_id: str) -> PayPalOrder: ...

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        """Refund `amount` of the capture `charge_reference`."""
        ...

    def get_refund(self, *, refund_reference: str) -> GatewayResult:
        """A refund as it stands now (a pending refund completes later)."""
        ...

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The webhook's event when PayPal confirms its signature; None for anything else."""
        ...


# What a gateway that only plays a processor (the sandbox) offers for the demo data.


@runtime_checkable
class DemoCards(Protocol):
    def test_token(self, number: str, *, holder: str, exp_year: int) -> str:
        """A single-use token of one of its test cards, as its card fields would make."""
        ...


@runtime_checkable
class DemoApprovals(Protocol):
    def approve(self, order_id: str) -> None:
        """The customer's approval of an order on its approval page."""
        ...
