"""A real prefork Celery worker serves its pool processes' metrics on METRICS_PORT: the
billing run's accounts and the gateway call latencies recorded in the pool's child process
reach a scrape of the main process (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import Membership
from billing.tasks import billing_run_chunk_task
from invoices.models import RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment
from portal.celery import app
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.faults.worker_processes import worker_process

TOKEN = "worker-metrics-token-0123456789"
BROKER_KEYS = ("money", "emails", "pdfs", "default", "unacked", "unacked_index")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple], float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_prefork_worker_serves_the_samples_its_pool_process_recorded(
    settings, rep, add_card, tmp_path: Path
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(*BROKER_KEYS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    account = AccountFactory(company_name="Metrics Ltd")
    owner = UserFactory(email="metrics@example.com")
    MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
    payment_method_approve(payment_method=add_card(account, owner), by=rep)
    RecurringCharge.objects.create(
        account=account,
        description="Virtual Server",
        unit_price=Decimal("40.00"),
        starts_on=date(2026, 10, 1),
    )
    port = _free_port()
    directory = tmp_path / "metrics"
    directory.mkdir()
    environment = {
        "METRICS_PORT": str(port),
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "MEDIA_ROOT": str(tmp_path),
    }
    done = ("portal_billing_run_accounts_total", (("result", "done"),))
    charges = (
        "portal_gateway_call_duration_seconds_count",
        (("gateway", "sandbox"), ("kind", "charge"), ("outcome", "succeeded")),
    )
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    samples: dict[tuple[str, tuple], float] = {}
    try:
        with worker_process(
            name="metrics", queues="money", environment=environment, log=tmp_path / "tasks.log"
        ) as worker:
            main_pid = worker.pid
            billing_run_chunk_task.delay([account.pk], "2026-10-01")
            deadline = time.monotonic() + 90
            while samples.get(done) != 1:
                assert worker.poll() is None, (tmp_path / "tasks.metrics.out").read_text()
                assert time.monotonic() < deadline, samples
                time.sleep(0.5)
                try:
                    samples = _scrape(port)
                except (urllib.error.URLError, ConnectionError):
                    continue
    finally:
        app.conf.task_always_eager = previous
        broker.delete(*BROKER_KEYS)
    assert Payment.objects.get(account=account).state == Payment.State.SUCCEEDED
    assert samples[charges] == 1
    assert samples.get(("portal_billing_run_accounts_total", (("result", "failed"),)), 0) == 0
    # The pool's child process recorded them (files named by process id), and the main
    # process, which ran no task, served them.
    writers = {int(path.stem.rpartition("_")[2]) for path in directory.glob("*.db")}
    assert writers and main_pid not in writers
