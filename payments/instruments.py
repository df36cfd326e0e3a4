"""What the payments app measures in the process that does the work: how long each gateway
call takes, by gateway, kind of call and outcome (prometheus-client).

The histogram lives in the process that calls the gateway (a web process for a one-time
payment, a Celery worker process for the billing run's charges); `portal.metrics` exports it.
With PROMETHEUS_MULTIPROC_DIR set (gunicorn and Celery's prefork children) prometheus-client
writes each process's samples to a file there and the exporter adds them up.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from prometheus_client import Histogram

if TYPE_CHECKING:
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


@contextmanager
def gateway_call_observed(attempt: GatewayAttempt) -> Iterator[list[str]]:
    """Time the gateway call `attempt` records, while the block runs: the caller appends
    the call's outcome to the yielded list; a block that raises is "unknown" (no sure
    answer: the call timed out or the gateway could not be reached)."""
    outcome: list[str] = []
    started = time.perf_counter()
    try:
        yield outcome
    finally:
        gateway_call_seconds.labels(
            gateway=attempt.gateway or "unknown",
            kind=attempt.kind,
            outcome=outcome[0] if outcome else "unknown",
        ).observe(time.perf_counter() - started)
