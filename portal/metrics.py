"""The Prometheus metrics: what each process measured, and what the database and the broker
say at the moment of the scrape.

Two kinds of numbers, two designs:
- Counts that live in the database (payments by gateway, method and state; the outbox's
  backlog and its oldest email; cards awaiting approval and the oldest one's age against the
  24-hour promise; unsettled gateway attempts) and the queues' lengths in Redis are read when
  Prometheus scrapes, by the collectors below. Every web process thus reports the same truth,
  whichever one the scrape reaches, and nothing has to be kept in step.
- What only the working process sees (how long each gateway call took; the billing run's
  accounts done and failed) is recorded where it happens (`payments.instruments`,
  `billing.instruments`). gunicorn and Celery's prefork pool run several processes, each
  with its own memory, so with PROMETHEUS_MULTIPROC_DIR set (a directory per container,
  empty at its start) prometheus-client writes each process's samples to files there and the
  scrape adds them up (`MultiProcessCollector`): one scrape per pod gives the pod's total, and
  Prometheus sums the pods. No pushgateway: nothing is lost when a short task ends, and no
  extra service to run. The web's `/metrics` serves its processes' samples with the database
  and queue numbers; each Celery worker serves its own on METRICS_PORT (`metrics_server_start`,
  started by portal/celery.py) with the same token.

Both are protected by a bearer token (METRICS_TOKEN): without one configured the endpoint
does not exist (404); a request without the token is refused (401), one with another token
too (403). The token is compared in constant time.
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from accounts.models import OutboundEmail
from billing import instruments as _billing_instruments
from payments import instruments as _payments_instruments
from payments.models import GatewayAttempt, Payment, PaymentMethod

# The process instruments, imported so that they are registered wherever metrics are served.
INSTRUMENTS = (_billing_instruments, _payments_instruments)

__all__ = [
    "DatabaseCollector",
    "QueueCollector",
    "Scrape",
    "metrics_scrape",
    "metrics_server_start",
]


def _age(oldest: datetime | None, now: datetime) -> float:
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


class DatabaseCollector(Collector):
    """Counts read from PostgreSQL at each scrape (a handful of aggregate queries)."""

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        payments = GaugeMetricFamily(
            "portal_payments",
            "Payments recorded, by gateway, method and outcome (their current state).",
            labels=["gateway", "method", "outcome"],
        )
        rows = Payment.objects.values_list("gateway", "method", "state").annotate(n=Count("pk"))
        for gateway, method, state, n in rows.order_by():
            payments.add_metric([gateway, method, state], n)
        yield payments

        attempts = GaugeMetricFamily(
            "portal_gateway_attempts_unsettled",
            "Gateway calls without a final answer yet (started, pending, unknown), which the "
            "settler looks up, by gateway, kind and status.",
            labels=["gateway", "kind", "status"],
        )
        unsettled = [
            GatewayAttempt.Status.STARTED,
            GatewayAttempt.Status.PENDING,
            GatewayAttempt.Status.UNKNOWN,
        ]
        attempt_rows = (
            GatewayAttempt.objects.filter(status__in=unsettled)
            .values_list("gateway", "kind", "status")
            .annotate(n=Count("pk"))
        )
        for gateway, kind, status, n in attempt_rows.order_by():
            attempts.add_metric([gateway, kind, status], n)
        yield attempts

        outbox = OutboundEmail.objects.aggregate(
            queued=Count("pk", filter=Q(state=OutboundEmail.State.QUEUED)),
            failed=Count("pk", filter=Q(state=OutboundEmail.State.FAILED)),
            oldest=Min("created_at", filter=Q(state=OutboundEmail.State.QUEUED)),
        )
        yield GaugeMetricFamily(
            "portal_outbox_emails_queued",
            "Emails written to the outbox and not sent yet (the backlog).",
            value=outbox["queued"],
        )
        yield GaugeMetricFamily(
            "portal_outbox_emails_failed",
            "Emails given up after their last retry.",
            value=outbox["failed"],
        )
        yield GaugeMetricFamily(
            "portal_outbox_oldest_queued_age_seconds",
            "How long the oldest unsent email has been in the outbox (0 when none).",
            value=_age(outbox["oldest"], now),
        )

        promise = settings.CARD_PROMISE_HOURS * 3600
        cards = PaymentMethod.objects.filter(state=PaymentMethod.State.AWAITING_APPROVAL).aggregate(
            n=Count("pk"),
            oldest=Min("awaiting_since"),
            late=Count("pk", filter=Q(awaiting_since__lte=now - timedelta(seconds=promise))),
        )
        yield GaugeMetricFamily(
            "portal_cards_awaiting_approval",
            "Cards that passed the gateway's check and wait for a representative's decision.",
            value=cards["n"],
        )
        yield GaugeMetricFamily(
            "portal_cards_awaiting_approval_oldest_age_seconds",
            "How long the oldest card awaiting approval has waited (0 when none); compare "
            "with portal_cards_approval_promise_seconds.",
            value=_age(cards["oldest"], now),
        )
        yield GaugeMetricFamily(
            "portal_cards_approval_promise_seconds",
            "The promise to the customer: a valid card is decided within this long.",
            value=promise,
        )
        yield GaugeMetricFamily(
            "portal_cards_awaiting_approval_past_promise",
            "Cards awaiting approval for longer than the promise.",
            value=cards["late"],
        )


def _queue_keys(queue: str) -> list[str]:
    """The Redis lists kombu keeps a queue in: the queue's name, and one per priority step
    for messages sent with a priority (kombu's `\\x06\\x16` separator)."""
    return [queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9))]


class QueueCollector(Collector):
    """The Celery queues' lengths (Redis LLEN), read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "portal_broker_up", "1 when the broker (Redis) answered this scrape, else 0."
        )
        if not settings.REDIS_URL:
            return
        lengths = GaugeMetricFamily(
            "portal_queue_length",
            "Tasks waiting in a Celery queue (not yet taken by a worker).",
            labels=["queue"],
        )
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            pipe = client.pipeline(transaction=False)
            for queue in settings.TASK_QUEUES:
                for key in _queue_keys(queue):
                    pipe.llen(key)
            counts = iter(pipe.execute())
            for queue in settings.TASK_QUEUES:
                lengths.add_metric([queue], sum(next(counts) for _ in _queue_keys(queue)))
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        finally:
            client.close()
        up.add_metric([], 1)
        yield up
        yield lengths


class _ThisProcess(Collector):
    """Without PROMETHEUS_MULTIPROC_DIR (one process: runserver, the tests): the instruments
    of this process, as registered in prometheus-client's default registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def _registry(*, shared: bool) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    if shared:
        registry.register(DatabaseCollector())
        registry.register(QueueCollector())
    return registry


class Scrape:
    """The outcome of asking for the metrics: `status` 200 with the text exposition, or
    404 (no token configured), 401 (no token given) or 403 (another token)."""

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        self.status = status
        self.body = body
        self.headers = headers or {}


def metrics_scrape(*, authorization: str, shared: bool = True) -> Scrape:
    """The metrics for a request carrying `authorization` (its Authorization header).
    `shared` adds the database's and the queues' numbers (the web serves them; a worker
    serves only its processes' own)."""
    token = settings.METRICS_TOKEN
    if not token:
        return Scrape(404)
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return Scrape(401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return Scrape(403)
    body = generate_latest(_registry(shared=shared))
    return Scrape(200, body, {"Content-Type": CONTENT_TYPE_LATEST})


class _QuietHandler(WSGIRequestHandler):
    """No access log line on stderr for every scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


_REASONS = {200: "200 OK", 401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found"}


def _wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    if environ.get("PATH_INFO") != "/metrics" or environ.get("REQUEST_METHOD") != "GET":
        scrape = Scrape(404)
    else:
        scrape = metrics_scrape(authorization=environ.get("HTTP_AUTHORIZATION", ""), shared=False)
    start_response(_REASONS[scrape.status], list(scrape.headers.items()))
    return [scrape.body]


def metrics_server_start(*, port: int, address: str = "0.0.0.0") -> ThreadingWSGIServer:  # noqa: S104
    """Serves `GET /metrics` (this process's and its children's samples, with the token) on
    `port` from a daemon thread: what a Celery worker's main process runs."""
    server = make_server(address, port, _wsgi_app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
