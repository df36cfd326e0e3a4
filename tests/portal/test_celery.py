from __future__ import annotations

import threading

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import transaction

from accounts.models import User
from portal.celery import app
from tests.factories import UserFactory

_seen: dict[str, str] = {}
_done = threading.Event()


@app.task(name="tests.portal.remember_email")
def remember_email(user_id: int) -> None:
    # Reads the row through the worker's own connection: it exists only once committed.
    _seen["email"] = User.objects.get(pk=user_id).email
    _done.set()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_task_sent_inside_a_transaction_runs_on_a_real_worker_after_the_commit(
    settings: object,
) -> None:
    if not settings.REDIS_URL:  # type: ignore[attr-defined]
        pytest.skip("REDIS_URL is not set")
    app.conf.task_always_eager = False
    _done.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        with transaction.atomic():
            user = UserFactory(email="committed@example.com")
            remember_email.delay(user.pk)
            assert not _done.is_set()
        assert _done.wait(timeout=30), "the worker did not run the task"
    assert _seen["email"] == "committed@example.com"


@pytest.mark.django_db(transaction=True)
def test_a_task_of_a_rolled_back_transaction_is_never_sent() -> None:
    _done.clear()
    with pytest.raises(RuntimeError), transaction.atomic():
        user = UserFactory(email="rolled-back@example.com")
        remember_email.delay(user.pk)
        raise RuntimeError("roll back")
    assert not _done.is_set()


@pytest.mark.django_db(transaction=True)
def test_a_task_sent_inside_a_transaction_waits_for_the_commit() -> None:
    _done.clear()
    _seen.clear()
    with transaction.atomic():
        user = UserFactory(email="waits@example.com")
        result = remember_email.delay(user.pk)
        assert not _done.is_set(), "sent before the commit"
    assert _done.is_set()
    assert _seen["email"] == "waits@example.com"
    assert result.id


def test_every_task_of_the_apps_waits_for_the_commit() -> None:
    from portal.celery import TransactionAwareTask

    app.loader.import_default_modules()
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert ours
    assert all(isinstance(task, TransactionAwareTask) for task in ours)


def test_the_app_reads_its_configuration_from_django_settings(settings: object) -> None:
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_serializer == "json"
