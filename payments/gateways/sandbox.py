"""The built-in sandbox gateway: the adapter for the sandbox processor (`sandbox_gateway`).

It speaks to the processor the way an adapter speaks to a real one, through requests keyed
by idempotency keys, and turns its answers and time-outs into the gateway interface's terms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.urls import reverse
from django.utils import timezone

from sandbox_gateway import paypal, processor
from sandbox_gateway.models import SandboxPayPalOrder

from .base import (
    AmountProblem,
    Card,
    DeclineCategory,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    InvalidToken,
    Outcome,
    PayPalOrder,
    PayPalOrderStatus,
    WebhookSubject,
)


def _result(answer: processor.Answer, card: Card | None = None) -> GatewayResult:
    decline = DeclineCategory(answer.decline) if answer.decline else None
    return GatewayResult(
        outcome=Outcome(answer.outcome),
        reference=answer.reference,
        decline=decline,
        message=answer.message,
        retryable=decline == DeclineCategory.PROCESSING_ERROR,
        card=card,
        stored_credential=answer.credential,
    )


class SandboxGateway:
    """The sandbox processor's cards: its test cards only, no real money."""

    name = "sandbox"
    live = False
    card_fields_template = "payments/gateways/sandbox_card_fields.html"
    # Served from the portal's own origin, under /sandbox-gateway/.
    card_fields_csp: Mapping[str, Sequence[str]] = {}

    @classmethod
    def from_settings(cls) -> SandboxGateway:
        return cls()

    def card_fields_context(self) -> dict[str, Any]:
        return {"fields_url": reverse("sandbox_gateway:card_fields")}

    def test_token(self, number: str, *, holder: str, exp_year: int) -> str:
        """A single-use token for one of the sandbox's test cards, as its card fields would
        make (for the demo data)."""
        card, errors = processor.tokenize(
            number=number,
            exp_month="12",
            exp_year=str(exp_year),
            cvc="1234" if number.startswith(("34", "37")) else "123",
            holder=holder,
            today=timezone.localdate(),
        )
        if card is None:
            raise ValueError(errors)
        return card.token

    def describe_token(self, token: str) -> Card:
        """The card behind an unused token; raises InvalidToken otherwise."""
        try:
            card = processor.describe_token(token)
        except processor.UnknownToken as error:
            raise InvalidToken(token) from error
        return Card(
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            holder=card.holder,
            fingerprint=card.fingerprint,
        )

    def verify_card(self, *, token: str, idempotency_key: str) -> GatewayResult:
        return _result(processor.verify(token=token, key=idempotency_key))

    def charge(
        self,
        *,
        credential: str,
        amount: Decimal,
        currency: str,
        idempotency_key: str,
        on_reference: Callable[[str], None] | None = None,
    ) -> GatewayResult:
        # One call, found again by its key: there is no id before the answer.
        return self._charge(
            credential=credential, amount=amount, currency=currency, key=idempotency_key
        )

    def charge_token(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        return self._charge(token=token, amount=amount, currency=currency, key=idempotency_key)

    def _charge(self, **request: Any) -> GatewayResult:
        try:
            return _result(processor.charge(**request))
        except processor.ProcessorTimeout as error:
            raise GatewayTimeout(request["key"]) from error

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        return _result(
            processor.refund(
                charge_reference=charge_reference,
                amount=amount,
                currency=currency,
                key=idempotency_key,
            )
        )

    def lookup(
        self, *, idempotency_key: str, reference: str = "", credential: str = ""
    ) -> GatewayResult | None:
        answer = processor.lookup(idempotency_key)
        return _result(answer) if answer else None

    def lookup_refund(
        self, *, idempotency_key: str, charge_reference: str, reference: str = ""
    ) -> GatewayResult | None:
        return self.lookup(idempotency_key=idempotency_key)

    def amount_problem(self, amount: Decimal, currency: str) -> AmountProblem | None:
        # The sandbox takes any amount in the currency's unit.
        return None

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        # The sandbox sends no card webhooks; anything claiming to be one is not believed.
        return None

    def webhook_subject(self, event: Mapping[str, Any]) -> WebhookSubject | None:
        return None


def _order(order: SandboxPayPalOrder) -> PayPalOrder:
    capture = None
    if order.capture_id:
        capture = GatewayResult(outcome=Outcome.SUCCEEDED, reference=order.capture_id)
    return PayPalOrder(
        id=order.order_id,
        status=PayPalOrderStatus(order.status),
        approve_url=paypal.approve_url(order),
        capture=capture,
    )


class SandboxPayPal:
    """PayPal played by the sandbox: its approval page offers Approve and Cancel."""

    name = "sandbox"
    live = False

    @classmethod
    def from_settings(cls) -> SandboxPayPal:
        return cls()

    def approve(self, order_id: str) -> None:
        """The customer's "Approve" on the sandbox's approval page (for the demo data)."""
        paypal.decide(order_id, approve=True)

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
        return _order(
            paypal.create_order(
                amount=amount,
                currency=currency,
                reference=reference,
                description=description,
                return_url=return_url,
                cancel_url=cancel_url,
                request_id=request_id,
            )
        )

    def capture_order(self, *, order_id: str, request_id: str) -> GatewayResult:
        try:
            order, capture = paypal.capture(order_id, request_id=request_id)
        except paypal.UnknownOrder as error:
            raise GatewayUnavailable(order_id) from error
        if capture is None:
            return GatewayResult(
                outcome=Outcome.FAILED,
                message="ORDER_NOT_APPROVED",
                extra={"order_status": order.status},
            )
        return GatewayResult(
            outcome=Outcome.SUCCEEDED,
            reference=capture.id,
            extra={"order_status": order.status},
        )

    def get_order(self, *, order_id: str) -> PayPalOrder:
        try:
            return _order(paypal.get_order(order_id))
        except paypal.UnknownOrder as error:
            raise GatewayUnavailable(order_id) from error

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        return _result(
            processor.refund(
                charge_reference=charge_reference,
                amount=amount,
                currency=currency,
                key=idempotency_key,
            )
        )

    def get_refund(self, *, refund_reference: str) -> GatewayResult:
        answer = processor.lookup_reference(refund_reference)
        if answer is None:
            raise GatewayUnavailable(refund_reference)
        return _result(answer)

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        # The sandbox sends no webhooks; anything claiming to be one is not believed.
        return None
