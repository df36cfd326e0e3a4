"""The facade every payments service calls a gateway through (Saleor's `payment/gateway.py`).

A call that moves money is recorded first, as a `GatewayAttempt` committed with its
idempotency key (`core.attempt_start`), and `gateway_call` then makes it with no database lock
held, mapping what can go wrong to outcomes in one place: a gateway that could not be reached
did nothing (a FAILED, retryable answer, or an attempt left UNKNOWN where the caller settles
by asking); one that did not answer in time may have acted, so the attempt is UNKNOWN and
is settled later by a look-up, never by calling again. `gateway_ask` asks a question (a
look-up) that may go unanswered for now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

from django.conf import settings

from .gateways import card_gateway, paypal_gateway
from .gateways.base import (
    CardGateway,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    Outcome,
    PayPalGateway,
)
from .instruments import gateway_call_observed
from .models import GatewayAttempt, Payment
from .rate_limit import gateway_turn

logger = logging.getLogger(__name__)

__all__ = [
    "Unanswered",
    "attempt_mark_unknown",
    "card_fields_csp",
    "card_gateway",
    "gateway_ask",
    "gateway_call",
    "gateway_for",
    "paypal_gateway",
]


def gateway_for(payment: Payment) -> CardGateway | PayPalGateway:
    """The gateway that took (or is taking) `payment`."""
    return paypal_gateway() if payment.method == Payment.Method.PAYPAL else card_gateway()


def attempt_mark_unknown(*, attempt: GatewayAttempt, message: str) -> None:
    """No sure answer came: the attempt is unknown until the gateway is asked about it. An
    answer already recorded (succeeded, declined) is never overwritten."""
    GatewayAttempt.objects.filter(pk=attempt.pk).exclude(
        status__in=[GatewayAttempt.Status.SUCCEEDED, GatewayAttempt.Status.DECLINED]
    ).update(status=GatewayAttempt.Status.UNKNOWN, message=message[:255])


def gateway_call(
    attempt: GatewayAttempt,
    call: Callable[[], GatewayResult],
    *,
    unreached: Literal["failed", "unknown"] = "failed",
) -> GatewayResult | None:
    """Make the call `attempt` records and return the gateway's answer, or None when there is
    no sure answer (the attempt is then UNKNOWN, to be settled by asking the gateway).

    A gateway that could not be reached did nothing: by default that is a FAILED, retryable
    answer; `unreached="unknown"` leaves it to the settling instead (a PayPal capture or a
    refund, which the settler asks about or sends again under the same key).

    The call waits for its turn under the gateway's rate limit first (`rate_limit`); one
    that gets none is not made, which is a gateway that could not be reached. The call
    itself, not the wait, is timed for the metrics (`instruments`).
    """
    try:
        gateway_turn(gateway=attempt.gateway)
        with gateway_call_observed(attempt) as outcome:
            result = call()
            outcome.append(result.outcome.value)
        return result
    except GatewayTimeout as error:
        if error.reference:
            GatewayAttempt.objects.filter(pk=attempt.pk, reference="").update(
                reference=error.reference
            )
            attempt.reference = attempt.reference or error.reference
        attempt_mark_unknown(attempt=attempt, message=str(error) or "timed out")
        return None
    except GatewayUnavailable as error:
        if unreached == "unknown":
            attempt_mark_unknown(attempt=attempt, message=str(error) or "unavailable")
            return None
        return GatewayResult(
            outcome=Outcome.FAILED, message=str(error) or "unavailable", retryable=True
        )


@dataclass(frozen=True)
class Unanswered:
    """What `gateway_ask` gives when the gateway could not answer now: ask again later."""

    error: str


def gateway_ask[T](call: Callable[[], T], *, gateway: str = "") -> T | Unanswered:
    """A question to a gateway (what became of a charge, an order; the card gateway unless
    `gateway` says); `Unanswered` when it cannot answer now, or no turn under its rate limit
    came."""
    try:
        gateway_turn(gateway=gateway or settings.CARD_GATEWAY)
        return call()
    except (GatewayTimeout, GatewayUnavailable) as error:
        message = str(error) or type(error).__name__
        logger.warning("The gateway could not answer now: %s", message)
        return Unanswered(message)


def card_fields_csp() -> dict[str, list[str]]:
    """The Content-Security-Policy of a page with the card fields: the portal's, and the
    origins the card gateway's fields load from and talk to."""
    portal = cast("dict[str, list[str]]", settings.SECURE_CSP)
    policy = {directive: list(sources) for directive, sources in portal.items()}
    for directive, sources in card_gateway().card_fields_csp.items():
        known = policy.setdefault(directive, [])
        known.extend(source for source in sources if source not in known)
    return policy
