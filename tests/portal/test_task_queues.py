"""The task queues: money work on a queue of its own, a broker that hands a lost task out
again soon (BROKER_VISIBILITY_TIMEOUT), and no task that waits longer than that for its retry."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from accounts.retries import retry_delay
from portal.celery import app
from portal.checks import check_visibility_timeout

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "invoices", "payments", "billing", "portal", "sandbox_gateway")
QUEUES = {"money", "emails", "pdfs", "default"}
# What must never wait behind documents: the billing run and its chunks, charges, settling
# lost answers, refunds, card verification.
MONEY = {
    "billing.billing_run",
    "billing.billing_run_chunk",
    "billing.autocharge_attempt",
    "billing.autocharges_due",
    "billing.autocharges_confirmation_sweep",
    "payments.payments_settle",
    "payments.payment_method_verify",
    "payments.payment_refund_unapplied",
    "payments.payment_paypal_sync",
}


def _queue_of(task_name: str) -> str:
    return str(app.amqp.router.route({}, task_name)["queue"].name)


def _project_tasks() -> list[str]:
    app.loader.import_default_modules()
    return sorted(name for name in app.tasks if name.split(".")[0] in APPS)


def test_every_task_of_the_project_goes_to_the_queue_of_its_kind() -> None:
    tasks = _project_tasks()
    assert set(tasks) >= MONEY
    queues = {name: _queue_of(name) for name in tasks}
    expected = {
        name: (
            "money"
            if name.startswith(("billing.", "payments."))
            else {"accounts": "emails", "invoices": "pdfs"}[name.split(".")[0]]
        )
        for name in tasks
    }
    assert queues == expected
    assert {name for name, queue in queues.items() if queue == "money"} >= MONEY
    assert _queue_of("accounts.email_send") == "emails"
    assert _queue_of("invoices.invoice_documents_render") == "pdfs"


def test_the_queues_are_declared_and_a_task_of_no_app_goes_to_the_default_one() -> None:
    assert {queue.name for queue in app.conf.task_queues} == QUEUES
    assert app.conf.task_default_queue == "default"
    assert _queue_of("somewhere.else") == "default"


def test_the_visibility_timeout_is_read_from_the_environment() -> None:
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == settings.BROKER_VISIBILITY_TIMEOUT
    # Soon enough that a killed worker's chunk is billed within minutes, not an hour.
    assert 0 < settings.BROKER_VISIBILITY_TIMEOUT <= 600
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'portal.settings'); "
            "import django; django.setup(); from portal.celery import app; "
            "print(app.conf.broker_transport_options['visibility_timeout'])",
        ],
        cwd=ROOT,
        env={**os.environ, "BROKER_VISIBILITY_TIMEOUT": "123"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.split() == ["123"], result.stderr


def test_no_retry_waits_as_long_as_the_visibility_timeout() -> None:
    """A task waiting for its retry longer than the timeout would be handed to a second
    worker meanwhile (and again every timeout): every countdown comes from `retry_delay`."""
    for name, first in (("accounts.email_send", 30), ("payments.payment_method_verify", 60)):
        task = app.tasks[name]
        waits = [retry_delay(n, first=first) for n in range(task.max_retries + 1)]
        assert max(waits) <= settings.TASK_RETRY_MAX_DELAY < settings.BROKER_VISIBILITY_TIMEOUT
    assert check_visibility_timeout() == []


def test_every_countdown_in_the_code_is_a_retry_delay() -> None:
    found = []
    for app_name in APPS:
        for path in (ROOT / app_name).rglob("*.py"):
            for line in path.read_text().splitlines():
                if re.search(r"\b(countdown|eta)\s*=", line):
                    found.append((path.relative_to(ROOT).as_posix(), line.strip()))
    assert found, "no retry found at all: the scan is broken"
    assert all("countdown=retry_delay(" in line for _path, line in found), found


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"BROKER_VISIBILITY_TIMEOUT": 300}, "portal.E001"),
        ({"TASK_RETRY_MAX_DELAY": 3600}, "portal.E001"),
        ({"BILLING_CHUNK_SIZE": 5000}, "portal.E002"),
        ({"BILLING_CHARGE_CONCURRENCY": 1}, "portal.E002"),
        ({"GATEWAY_MAX_REQUESTS_PER_SECOND": 0.5}, "portal.E002"),
        ({"BROKER_VISIBILITY_TIMEOUT": 0}, "portal.E003"),
    ],
)
def test_the_check_refuses_a_visibility_timeout_shorter_than_what_a_task_holds(
    settings, changes: dict[str, float], error: str
) -> None:
    for name, value in changes.items():
        setattr(settings, name, value)
    assert [problem.id for problem in check_visibility_timeout()] == [error]


@pytest.mark.worker
def test_a_task_sent_to_redis_lands_in_its_own_queue_only(settings) -> None:
    """A task is one message, in its own queue only."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    import redis

    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(*QUEUES)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    try:
        app.send_task("billing.billing_run_chunk", args=[[], "2026-10-01"])
        app.send_task("accounts.email_send", args=[0])
        lengths = {queue: broker.llen(queue) for queue in QUEUES}
    finally:
        app.conf.task_always_eager = previous
        broker.delete(*QUEUES)
    assert lengths == {"money": 1, "emails": 1, "pdfs": 0, "default": 0}
