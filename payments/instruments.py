"""What the payments app measures in the process that does the work: how long each gateway
call takes, by gateway, kind of call and outcome (prometheus-client).

The histogram lives in the process that calls the gateway (a web process for a one-time
payment, a Celery worker process for the billing run's charges); `portal.metrics` exports it.
With PROMETHEUS_MULTIPROC_DIR set (gunicorn and Celery's prefork children) prometheus-client
writes each process's samples to a file there and the exporter adds them up.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Concatenate

from prometheus_client import Histogram

if TYPE_CHECKING:
    from .gateways.base import GatewayResult
    from .models import GatewayAttempt

# A real processor answers in 0.5–3 s (Stripe's test charges: 1.24 s median); a timeout is 15–20 s.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)

gateway_call_seconds = Histogram(
    "portal_gateway_call_duration_seconds",
    "Time a call to a payment gateway took, by gateway, kind of call and outcome "
    "(unknown: no sure answer, the call timed out or the gateway could not be reached).",
    ["gateway", "kind", "outcome"],
    buckets=LATENCY_BUCKETS,
)


def observed_gateway_call[**P](
    function: Callable[Concatenate[GatewayAttempt, P], GatewayResult | None],
) -> Callable[Concatenate[GatewayAttempt, P], GatewayResult | None]:
    """Decorates the facade's `gateway_call(attempt, call, ...)`: the time the call took
    lands in `gateway_call_seconds` with the attempt's gateway and kind and what came of it."""

    @functools.wraps(function)
    def observed(
        attempt: GatewayAttempt, /, *args: P.args, **kwargs: P.kwargs
    ) -> GatewayResult | None:
        started = time.perf_counter()
        outcome = "error"
        try:
            result = function(attempt, *args, **kwargs)
            outcome = "unknown" if result is None else str(result.outcome.value)
            return result
        finally:
            gateway_call_seconds.labels(
                gateway=attempt.gateway or "unknown", kind=attempt.kind, outcome=outcome
            ).observe(time.perf_counter() - started)

    return observed
