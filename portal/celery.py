"""The Celery app: Redis as broker, configuration from Django's settings (CELERY_*), and a
task base that waits for the sender's transaction (every task of every app uses it)."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from celery import Celery, signals
from celery.contrib.django.task import DjangoTask
from celery.result import AsyncResult
from celery.utils import uuid
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")


class TransactionAwareTask(DjangoTask):  # type: ignore[type-arg]
    """A task sent from inside a database transaction is sent when that transaction commits,
    and never if it rolls back (pretix's `TransactionAwareTask`).

    A worker must find the rows the sender wrote: a task sent before the commit could run
    first and find nothing, or act on a change that is then rolled back. So `task.delay()`
    is safe anywhere, with no `on_commit` at the call site. The result handle is returned at
    once (its id is chosen now); outside a transaction the task is sent immediately.
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
        transaction.on_commit(partial(super().apply_async, args, kwargs, task_id, *more, **options))
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
