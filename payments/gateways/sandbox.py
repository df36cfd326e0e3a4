"""The built-in sandbox gateway: the adapter for the sandbox processor (`sandbox_gateway`).

It speaks to the processor the way an adapter speaks to a real one, through requests keyed
by idempotency keys, and turns its answers and time-outs into the gateway interface's terms.
"""

from __future__ import annotations

from decimal import Decimal

from sandbox_gateway import processor

from .base import Card, DeclineCategory, GatewayResult, GatewayTimeout, InvalidToken, Outcome


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
    name = "sandbox"
    card_fields_url = "/sandbox-gateway/v1/card-fields"

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
        )

    def verify_card(self, *, token: str, idempotency_key: str) -> GatewayResult:
        return _result(processor.verify(token=token, key=idempotency_key))

    def charge(
        self, *, credential: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        try:
            answer = processor.charge(
                credential=credential, amount=amount, currency=currency, key=idempotency_key
            )
        except processor.ProcessorTimeout as error:
            raise GatewayTimeout(idempotency_key) from error
        return _result(answer)

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

    def lookup(self, *, idempotency_key: str) -> GatewayResult | None:
        answer = processor.lookup(idempotency_key)
        return _result(answer) if answer else None
