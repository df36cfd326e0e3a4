"""The Stripe adapter: cards on file through SetupIntents, one-time and off-session payments
through PaymentIntents, refunds and webhooks, on Stripe's official library.

The API version is the one pinned in settings (`STRIPE_API_VERSION`), never the account's
default. The library's own network retries are off: a call whose answer was lost is looked
up later by its idempotency key (kept in the object's metadata), never sent again blindly.
Every Stripe error is turned into the gateway interface's terms here: a refusal of the card
is a DECLINED answer with its category, a bank that wants the customer to confirm is
REQUIRES_ACTION, a request Stripe certainly did not carry out is GatewayUnavailable, and a
request it may have carried out (a time-out, Stripe's own 5xx) is GatewayTimeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import requests
import stripe
from django.conf import settings

from invoices.money import has_valid_precision

from .base import (
    AmountProblem,
    AmountProblemKind,
    BrowserIntent,
    Card,
    DeclineCategory,
    GatewayRefused,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidToken,
    Outcome,
    WebhookSubject,
)

logger = logging.getLogger(__name__)

# Stripe's zero-decimal currencies: amounts are whole units (JPY 500 is 500).
ZERO_DECIMAL = frozenset(
    {
        "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND",
        "VUV", "XAF", "XOF", "XPF",
    }
)  # fmt: skip
# Three-decimal currencies: minor units, whose last digit must be 0 (BHD 5.120 is 5120).
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# The smallest amount Stripe charges, in the currency (Stripe's "minimum charge amounts").
MINIMUM_CHARGE = {
    "USD": Decimal("0.50"),
    "AUD": Decimal("0.50"),
    "CAD": Decimal("0.50"),
    "CHF": Decimal("0.50"),
    "EUR": Decimal("0.50"),
    "GBP": Decimal("0.30"),
    "HKD": Decimal("4.00"),
    "JPY": Decimal("50"),
    "SGD": Decimal("0.50"),
}
# What the customer is told for a decline: Stripe's codes, by category. Fraud-class
# declines are only ever "declined".
_DECLINE_CODES = {
    "insufficient_funds": DeclineCategory.INSUFFICIENT_FUNDS,
    "expired_card": DeclineCategory.EXPIRED_CARD,
    "incorrect_cvc": DeclineCategory.INCORRECT_CVC,
    "invalid_cvc": DeclineCategory.INCORRECT_CVC,
    "processing_error": DeclineCategory.PROCESSING_ERROR,
    "fraudulent": DeclineCategory.FRAUD,
    "stolen_card": DeclineCategory.FRAUD,
    "lost_card": DeclineCategory.FRAUD,
    "pickup_card": DeclineCategory.FRAUD,
    "merchant_blacklist": DeclineCategory.FRAUD,
    "restricted_card": DeclineCategory.FRAUD,
    "security_violation": DeclineCategory.FRAUD,
    "payment_intent_authentication_failure": DeclineCategory.AUTHENTICATION_FAILED,
    "setup_intent_authentication_failure": DeclineCategory.AUTHENTICATION_FAILED,
    "authentication_required": DeclineCategory.AUTHENTICATION_REQUIRED,
}
_BRANDS = {"American Express": "amex", "MasterCard": "mastercard", "Visa": "visa"}


def stripe_amount(amount: Decimal, currency: str) -> int:
    """`amount` in Stripe's units for `currency`: minor units by the ISO 4217 exponent
    (USD 10.00 is 1000), whole units for zero-decimal currencies (JPY 500 is 500), minor
    units ending in 0 for three-decimal currencies (BHD 5.120 is 5120).

    Raises ValueError for an amount finer than the currency, or one Stripe could only take
    rounded (BHD 5.125): money is never rounded on its way to Stripe.
    """
    code = currency.upper()
    if not amount.is_finite() or not has_valid_precision(amount, code):
        raise ValueError(f"{amount} is finer than {code} allows")
    units = amount.scaleb(_decimals(code))
    if units != units.to_integral_value():
        raise ValueError(f"{amount} is finer than Stripe takes {code}")
    minor = int(units)
    if code in THREE_DECIMAL and minor % 10:
        raise ValueError(f"Stripe takes {code} amounts in steps of 0.010, not {amount}")
    return minor


def _decimals(code: str) -> int:
    """The decimals of Stripe's amounts in `code` (its "Supported currencies" page)."""
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """A field of a Stripe object (or of the plain dict inside an error's JSON)."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _id(obj: Any) -> str:
    """An expandable field's id, whether Stripe sent the id or the object."""
    if obj is None:
        return ""
    if isinstance(obj, str):
        return obj
    return str(_get(obj, "id", ""))


def _decline(code: str, decline_code: str) -> DeclineCategory:
    return _DECLINE_CODES.get(decline_code) or _DECLINE_CODES.get(code) or DeclineCategory.GENERIC


def _card(payment_method: Any, holder: str = "") -> Card | None:
    details = _get(payment_method, "card")
    if details is None:
        return None
    brand = str(_get(details, "brand", "") or "").strip()
    return Card(
        brand=_BRANDS.get(brand, brand.lower()),
        last4=str(_get(details, "last4", "") or ""),
        exp_month=int(_get(details, "exp_month", 0) or 0),
        exp_year=int(_get(details, "exp_year", 0) or 0),
        holder=str(_get(_get(payment_method, "billing_details"), "name", "") or holder or ""),
        fingerprint=str(_get(details, "fingerprint", "") or ""),
    )


def _payment_result(intent: Any) -> GatewayResult:
    """A PaymentIntent in the interface's terms."""
    status = str(_get(intent, "status", ""))
    reference = _id(intent)
    error = _get(intent, "last_payment_error")
    card = _card(_get(intent, "payment_method")) if _id(_get(intent, "payment_method")) else None
    if status == "succeeded":
        return GatewayResult(outcome=Outcome.SUCCEEDED, reference=reference, card=card)
    if status in ("processing", "requires_capture"):
        return GatewayResult(
            outcome=Outcome.PENDING, reference=reference, message=status, card=card
        )
    if status == "canceled":
        return GatewayResult(
            outcome=Outcome.FAILED,
            reference=reference,
            message=str(_get(intent, "cancellation_reason", "") or "canceled"),
        )
    if error:
        code = str(_get(error, "code", "") or "")
        decline = _decline(code, str(_get(error, "decline_code", "") or ""))
        message = str(_get(error, "message", "") or code)
        if decline == DeclineCategory.AUTHENTICATION_REQUIRED:
            # An off-session charge the bank wants the customer to confirm.
            return GatewayResult(
                outcome=Outcome.REQUIRES_ACTION, reference=reference, message=message
            )
        if decline == DeclineCategory.PROCESSING_ERROR:
            return GatewayResult(
                outcome=Outcome.FAILED,
                reference=reference,
                decline=decline,
                message=message,
                retryable=True,
            )
        return GatewayResult(
            outcome=Outcome.DECLINED, reference=reference, decline=decline, message=message
        )
    # requires_payment_method (never confirmed), requires_confirmation, requires_action:
    # the customer has not finished with the bank.
    return GatewayResult(outcome=Outcome.REQUIRES_ACTION, reference=reference, message=status)


def _refund_result(refund: Any) -> GatewayResult:
    status = str(_get(refund, "status", ""))
    reference = _id(refund)
    if status == "succeeded":
        return GatewayResult(outcome=Outcome.SUCCEEDED, reference=reference)
    if status in ("pending", "requires_action"):
        return GatewayResult(outcome=Outcome.PENDING, reference=reference, message=status)
    reason = str(_get(refund, "failure_reason", "") or status)
    return GatewayResult(outcome=Outcome.FAILED, reference=reference, message=reason)


class StripeGateway:
    """Stripe, through `stripe.StripeClient` with the portal's keys."""

    name = "stripe"
    card_fields_template = "payments/gateways/stripe_card_fields.html"
    confirmation_template = "payments/gateways/stripe_confirmation.html"

    def __init__(
        self,
        *,
        secret_key: str,
        publishable_key: str,
        webhook_secret: str,
        api_base: str,
        js_url: str,
        api_version: str,
        timeout: float,
        webhook_tolerance: int = 300,
    ) -> None:
        self._secret_key = secret_key
        self.publishable_key = publishable_key
        self._webhook_secret = webhook_secret
        self.api_base = api_base.rstrip("/")
        self.js_url = js_url
        self._webhook_tolerance = webhook_tolerance
        self._client = stripe.StripeClient(
            secret_key,
            stripe_version=api_version,
            base_addresses={"api": self.api_base},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=(min(timeout, 10.0), timeout)),
        )
        self.card_fields_csp: Mapping[str, Sequence[str]] = {
            "script-src": [_origin(js_url)],
            "frame-src": [_origin(js_url), "https://hooks.stripe.com"],
            "connect-src": [_origin(self.api_base)],
        }

    @classmethod
    def from_settings(cls) -> StripeGateway:
        return cls(
            secret_key=settings.STRIPE_SECRET_KEY,
            publishable_key=settings.STRIPE_PUBLISHABLE_KEY,
            webhook_secret=settings.STRIPE_WEBHOOK_SECRET,
            api_base=settings.STRIPE_API_BASE,
            js_url=settings.STRIPE_JS_URL,
            api_version=settings.STRIPE_API_VERSION,
            timeout=settings.STRIPE_TIMEOUT_SECONDS,
        )

    def __repr__(self) -> str:
        return f"<StripeGateway {self.api_base}>"

    @property
    def live(self) -> bool:
        return self._secret_key.startswith(("sk_live_", "rk_live_"))

    # What the browser needs ---------------------------------------------------------------

    def card_fields_context(self) -> dict[str, Any]:
        return {"publishable_key": self.publishable_key, "js_url": self.js_url}

    # Calls, and what can go wrong with them ---------------------------------------------------

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Turn what Stripe (or the network) raises, other than a card error, into the
        interface's exceptions."""
        try:
            yield
        except stripe.APIConnectionError as error:
            cause = error.__cause__
            not_sent = isinstance(cause, requests.exceptions.ConnectTimeout) or (
                isinstance(cause, requests.exceptions.ConnectionError)
                and not isinstance(cause, requests.exceptions.ReadTimeout)
                and "NewConnectionError" in repr(cause)
            )
            if not_sent:
                raise GatewayUnavailable(f"Stripe could not be reached ({what})") from error
            raise GatewayTimeout(f"No answer from Stripe ({what})") from error
        except stripe.APIError as error:
            # Stripe's own failure: it may or may not have carried the request out.
            raise GatewayTimeout(f"Stripe failed to answer ({what}): {error}") from error
        except (
            stripe.RateLimitError,
            stripe.AuthenticationError,
            stripe.PermissionError,
            stripe.IdempotencyError,
        ) as error:
            raise GatewayUnavailable(f"Stripe refused the request ({what}): {error}") from error

    # Customers and cards on file ------------------------------------------------------------

    def customer_create(
        self, *, name: str, email: str, reference: str, idempotency_key: str
    ) -> str:
        with self._calling("create a customer"):
            customer = self._client.v1.customers.create(
                params={"name": name, "email": email, "metadata": {"account": reference}},
                options={"idempotency_key": idempotency_key},
            )
        return str(customer.id)

    def card_setup_start(self, *, customer: str, idempotency_key: str) -> BrowserIntent:
        with self._calling("start a card setup"):
            intent = self._client.v1.setup_intents.create(
                params={
                    "customer": customer,
                    "usage": "off_session",
                    "allowed_payment_method_types": ["card"],
                    "metadata": {"attempt": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        return BrowserIntent(reference=str(intent.id), client_secret=str(intent.client_secret))

    def _setup_intent(self, token: str) -> Any:
        if not token.startswith("seti_"):
            raise InvalidToken(token)
        try:
            with self._calling("read a card setup"):
                return self._client.v1.setup_intents.retrieve(token)
        except stripe.InvalidRequestError as error:
            raise InvalidToken(token) from error

    def _payment_method_of(self, intent: Any) -> Any:
        """The card the customer gave to a setup intent, whether it passed or not."""
        reference = _id(_get(intent, "payment_method")) or _id(
            _get(_get(intent, "last_setup_error"), "payment_method")
        )
        if not reference:
            return None
        with self._calling("read a card"):
            return self._client.v1.payment_methods.retrieve(reference)

    def card_setup_customer(self, *, token: str) -> str:
        return _id(_get(self._setup_intent(token), "customer"))

    def describe_token(self, token: str) -> Card:
        """The card the customer confirmed a setup intent with (or tried to: a card whose
        challenge failed is described too, so that it is recorded as rejected, with why)."""
        intent = self._setup_intent(token)
        card = _card(self._payment_method_of(intent))
        if card is None:
            raise InvalidToken(token)
        return card

    def verify_card(self, *, token: str, idempotency_key: str) -> GatewayResult:
        """Stripe checked the card when the customer confirmed the setup intent (with the
        bank's challenge when asked); this reads the outcome from Stripe itself, never from
        the browser, and puts a passed card on the customer."""
        intent = self._setup_intent(token)
        status = str(intent.status)
        error = _get(intent, "last_setup_error")
        if status == "succeeded":
            payment_method = self._payment_method_of(intent)
            customer = _id(_get(intent, "customer"))
            if payment_method is not None and not _id(_get(payment_method, "customer")):
                try:
                    with self._calling("attach a card"):
                        self._client.v1.payment_methods.attach(
                            _id(payment_method),
                            params={"customer": customer},
                            options={"idempotency_key": f"{idempotency_key}:attach"},
                        )
                except stripe.CardError as declined:
                    return self._declined(declined, token)
            return GatewayResult(
                outcome=Outcome.SUCCEEDED,
                reference=token,
                card=_card(payment_method),
                stored_credential=f"{customer}/{_id(payment_method)}",
            )
        if status == "processing":
            return GatewayResult(
                outcome=Outcome.FAILED, reference=token, message=status, retryable=True
            )
        if error:
            code = str(_get(error, "code", "") or "")
            return GatewayResult(
                outcome=Outcome.DECLINED,
                reference=token,
                decline=_decline(code, str(_get(error, "decline_code", "") or "")),
                message=str(_get(error, "message", "") or code),
            )
        if status == "canceled":
            # Declined when the card was attached (Stripe cancels the setup), or given up.
            return GatewayResult(
                outcome=Outcome.DECLINED,
                reference=token,
                decline=DeclineCategory.GENERIC,
                message="The card setup was canceled.",
            )
        # requires_action, requires_payment_method: the bank's challenge was not completed.
        return GatewayResult(
            outcome=Outcome.DECLINED,
            reference=token,
            decline=DeclineCategory.AUTHENTICATION_FAILED,
            message=f"The card setup was not completed ({status}).",
        )

    def _declined(self, error: stripe.CardError, reference: str) -> GatewayResult:
        body = error.json_body or {}
        detail = body.get("error", {}) if isinstance(body, dict) else {}
        decline = _decline(str(error.code or ""), str(detail.get("decline_code", "") or ""))
        return GatewayResult(
            outcome=Outcome.DECLINED,
            reference=reference,
            decline=decline,
            message=str(detail.get("message", "") or error.user_message or error.code or ""),
        )

    # Charges ----------------------------------------------------------------------------------

    def amount_problem(self, amount: Decimal, currency: str) -> AmountProblem | None:
        try:
            stripe_amount(amount, currency)
        except ValueError:
            return AmountProblem(AmountProblemKind.NOT_REPRESENTABLE)
        minimum = MINIMUM_CHARGE.get(currency.upper())
        if minimum is not None and amount < minimum:
            return AmountProblem(AmountProblemKind.BELOW_MINIMUM, minimum=minimum)
        return None

    def charge(
        self,
        *,
        credential: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        on_reference: Callable[[str], None] | None = None,
    ) -> GatewayResult:
        """Charge the card on file off-session (the monthly charge); a bank that wants the
        customer to confirm gives REQUIRES_ACTION, never a blind retry.

        Two calls, so that no answer lost on the way back leaves a charge the portal cannot
        find: the PaymentIntent is created unconfirmed (which moves no money: a lost answer
        there is a retryable failure), its id handed to `on_reference` to be recorded, then
        it is confirmed by that id (a lost answer there, or a worker that died, is settled
        by reading that PaymentIntent, never by Stripe's search, which lags).
        """
        customer, _slash, payment_method = credential.partition("/")
        try:
            minor = stripe_amount(amount, currency)
        except ValueError as error:
            return GatewayResult(
                outcome=Outcome.DECLINED,
                decline=DeclineCategory.NOT_REPRESENTABLE,
                message=str(error),
            )
        try:
            with self._calling("create a charge of a card on file"):
                intent = self._client.v1.payment_intents.create(
                    params={
                        "amount": minor,
                        "currency": currency.lower(),
                        "customer": customer,
                        "payment_method": payment_method,
                        "allowed_payment_method_types": ["card"],
                        "metadata": {"attempt": idempotency_key},
                    },
                    options={"idempotency_key": idempotency_key},
                )
        except (GatewayTimeout, GatewayUnavailable) as error:
            return GatewayResult(
                outcome=Outcome.FAILED,
                message=f"Nothing was charged: {error}",
                retryable=True,
            )
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            # Refused as asked (a detached card, an amount Stripe does not take): nothing
            # happened, and asking again would be refused the same way.
            return GatewayResult(outcome=Outcome.FAILED, message=str(error.user_message or error))
        reference = str(intent.id)
        if on_reference is not None:
            on_reference(reference)
        try:
            with self._calling("charge a card on file"):
                intent = self._client.v1.payment_intents.confirm(
                    reference,
                    params={"off_session": True, "expand": ["payment_method"]},
                    options={"idempotency_key": f"{idempotency_key}:confirm"},
                )
        except GatewayTimeout as error:
            raise GatewayTimeout(str(error), reference=reference) from error
        except GatewayUnavailable:
            # The confirmation never left: cancel the intent so that it cannot be confirmed
            # later by anyone, and let the charge be tried again.
            return self._unconfirmed(reference)
        except stripe.CardError as error:
            declined = _get(_get(error.json_body, "error"), "payment_intent")
            if declined is not None:
                return _payment_result(declined)
            return self._declined(error, reference)
        except stripe.InvalidRequestError as error:
            return self._unconfirmed(reference, message=str(error.user_message or error))
        return _payment_result(intent)

    def _unconfirmed(self, reference: str, *, message: str = "") -> GatewayResult:
        """An off-session charge created but not confirmed: canceled, nothing charged, to be
        tried again (a cancel that cannot be made now leaves the answer to the look-up)."""
        try:
            result = self.card_payment_cancel(reference=reference)
        except (GatewayTimeout, GatewayUnavailable) as error:
            raise GatewayTimeout(str(error), reference=reference) from error
        if result.outcome != Outcome.FAILED:
            return result
        return GatewayResult(
            outcome=Outcome.FAILED,
            reference=reference,
            message=message or "Nothing was charged.",
            retryable=True,
        )

    def charge_token(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        """A one-time card is confirmed by the customer in the browser: `token` is the payment
        intent the server created for it, and this reads what became of it."""
        result = self.lookup(idempotency_key=idempotency_key, reference=token)
        if result is None:
            raise InvalidToken(token)
        return result

    def card_payment_start(
        self,
        *,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
    ) -> BrowserIntent:
        try:
            with self._calling("start a payment"):
                intent = self._client.v1.payment_intents.create(
                    params={
                        "amount": stripe_amount(amount, currency),
                        "currency": currency.lower(),
                        "allowed_payment_method_types": ["card"],
                        "metadata": dict(metadata),
                    },
                    options={"idempotency_key": idempotency_key},
                )
        except stripe.InvalidRequestError as error:
            raise GatewayRefused(str(error.user_message or error)) from error
        return BrowserIntent(reference=str(intent.id), client_secret=str(intent.client_secret))

    def card_payment_secret(self, *, reference: str) -> BrowserIntent:
        with self._asking("read a payment"):
            intent = self._client.v1.payment_intents.retrieve(reference)
        card = _id(_get(intent, "payment_method")) or _id(
            _get(_get(intent, "last_payment_error"), "payment_method")
        )
        return BrowserIntent(
            reference=reference, client_secret=str(intent.client_secret), payment_method=card
        )

    def card_payment_cancel(self, *, reference: str) -> GatewayResult:
        try:
            with self._calling("cancel a payment"):
                intent = self._client.v1.payment_intents.cancel(reference)
        except stripe.InvalidRequestError:
            # Not cancelable any more: it succeeded (or is processing) meanwhile.
            with self._calling("read a payment"):
                intent = self._client.v1.payment_intents.retrieve(reference)
        return _payment_result(intent)

    # Refunds ----------------------------------------------------------------------------------

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        try:
            minor = stripe_amount(amount, currency)
        except ValueError as error:
            return GatewayResult(outcome=Outcome.FAILED, message=str(error))
        try:
            with self._calling("refund"):
                refund = self._client.v1.refunds.create(
                    params={
                        "payment_intent": charge_reference,
                        "amount": minor,
                        "metadata": {"attempt": idempotency_key},
                    },
                    options={"idempotency_key": idempotency_key},
                )
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            return GatewayResult(outcome=Outcome.FAILED, message=str(error.user_message or error))
        return _refund_result(refund)

    # Looking up what became of a call -----------------------------------------------------

    @contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        """A question to Stripe: a refused one (a bad reference) cannot be answered now."""
        try:
            with self._calling(what):
                yield
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            raise GatewayUnavailable(f"Stripe could not answer ({what}): {error}") from error

    def lookup(
        self, *, idempotency_key: str, reference: str = "", credential: str = ""
    ) -> GatewayResult | None:
        """What became of a payment, read from its PaymentIntent.

        The portal records the id of every PaymentIntent before it can move money (the
        browser confirms one the portal created and recorded; a card on file is charged in
        two calls, the id recorded between them). A charge of a card on file without an id
        (its worker died before recording it) is looked for among the customer's
        PaymentIntents by the attempt's key in their metadata (a list, which is up to date,
        not Stripe's search, which lags). None: Stripe holds nothing that can have moved
        money.
        """
        if not reference.startswith("pi_"):
            customer = credential.partition("/")[0]
            if not customer.startswith("cus_"):
                return None
            with self._asking("look up a charge"):
                listed = self._client.v1.payment_intents.list(
                    params={"customer": customer, "limit": 100}
                )
            found = [
                intent
                for intent in listed.data
                if _get(_get(intent, "metadata"), "attempt") == idempotency_key
            ]
            if not found:
                return None
            reference = _id(found[0])
        with self._asking("look up a payment"):
            intent = self._client.v1.payment_intents.retrieve(
                reference, params={"expand": ["payment_method"]}
            )
        if intent.status == "requires_confirmation":
            # A charge of a card on file whose confirmation never reached Stripe.
            return self._unconfirmed(reference)
        return _payment_result(intent)

    def lookup_refund(
        self, *, idempotency_key: str, charge_reference: str, reference: str = ""
    ) -> GatewayResult | None:
        with self._asking("look up a refund"):
            if reference.startswith("re_"):
                return _refund_result(self._client.v1.refunds.retrieve(reference))
            refunds = self._client.v1.refunds.list(
                params={"payment_intent": charge_reference, "limit": 100}
            )
        for refund in refunds.data:
            if _get(_get(refund, "metadata"), "attempt") == idempotency_key:
                return _refund_result(refund)
        return None

    # Webhooks -----------------------------------------------------------------------------------

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The event, if Stripe signed it with the endpoint's secret within the tolerance."""
        signature = headers.get("Stripe-Signature", "")
        if not signature or not self._webhook_secret:
            return None
        try:
            event = stripe.Webhook.construct_event(
                body, signature, self._webhook_secret, tolerance=self._webhook_tolerance
            )
        except (stripe.SignatureVerificationError, ValueError) as error:
            logger.warning("A Stripe webhook failed verification: %s", error)
            return None
        verified: dict[str, Any] = event.to_dict()
        return verified

    def webhook_subject(self, event: Mapping[str, Any]) -> WebhookSubject | None:
        kind = str(event.get("type", ""))
        obj = (event.get("data") or {}).get("object") or {}
        if kind.startswith("payment_intent."):
            return WebhookSubject("payment", str(obj.get("id", "")))
        if kind.startswith("setup_intent."):
            return WebhookSubject("setup", str(obj.get("id", "")))
        if kind.startswith("refund."):
            return WebhookSubject("refund", str(obj.get("id", "")))
        if kind == "charge.refunded":
            return WebhookSubject("refunded_payment", _id(obj.get("payment_intent")))
        return None
