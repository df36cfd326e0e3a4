"""The Celery app: Redis as broker, configuration from Django's settings (CELERY_*), and a
task base that waits for the sender's transaction (every task of every app uses it)."""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from celery.utils import uuid
from django.db import transaction
from kombu.exceptions import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

logger = logging.getLogger(__name__)

# What a broker that is down or unreachable raises when a task is sent.
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)


class TransactionAwareTask(DjangoTask):  # type: ignore[type-arg]
    """A task sent from inside a database transaction is sent when that transaction commits,
    and never if it rolls back (pretix's `TransactionAwareTask`).

    A worker must find the rows the sender wrote: a task sent before the commit could run
    first and find nothing, or act on a change that is then rolled back. So `task.delay()`
    is safe anywhere, with no `on_commit` at the call site. The result handle is returned at
    once (its id is chosen now); outside a transaction the task is sent immediately.

    A send after the commit never fails the committed change: the database row is the
    truth (an outbox email, a card still verifying), so a broker that cannot take the task
    is logged and the task left to the sweep that finds such rows (`accounts.outbox_sweep`,
    `payments.payment_methods_redrive`). The settings bound how long a send waits for a
    dead broker (CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_TASK_PUBLISH_RETRY_POLICY).
    """

    def apply_async(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        task_id: str | None = None,
        *more: Any,
        **options: Any,
    ) -> AsyncResult[Any]:
        if not transaction.get_connection().in_atomic_block:
            return super().apply_async(args, kwargs, task_id, *more, **options)
        task_id = task_id or uuid()
        send = super().apply_async

        def send_after_commit() -> None:
            try:
                send(args, kwargs, task_id, *more, **options)
            except BROKER_ERRORS as error:
                # Only the task's name and id: its arguments are never logged.
                logger.warning(
                    "Could not send task %s (%s) after the commit: %s: %s; left for the sweep.",
                    self.name,
                    task_id,
                    type(error).__name__,
                    error,
                )

        transaction.on_commit(send_after_commit)
        return self.AsyncResult(task_id)


app = Celery("portal", task_cls=TransactionAwareTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _mask_card_numbers(logger: Any, **kwargs: Any) -> None:
    """A worker logs through Celery's own handlers, not those of settings LOGGING: they mask
    card-like numbers too."""
    from payments.card_numbers import CardNumberFilter

    for handler in logger.handlers:
        if not any(isinstance(f, CardNumberFilter) for f in handler.filters):
            handler.addFilter(CardNumberFilter())


@signals.worker_init.connect
def _serve_metrics(**kwargs: Any) -> None:
    """A worker with METRICS_PORT (and METRICS_TOKEN) serves its processes' metrics there:
    the gateway call latencies and the billing run's accounts (portal/metrics.py)."""
    from django.conf import settings

    if settings.METRICS_PORT and settings.METRICS_TOKEN:
        from portal.metrics import metrics_server_start

        metrics_server_start(port=settings.METRICS_PORT)
        logger.info("Serving metrics on port %d.", settings.METRICS_PORT)
