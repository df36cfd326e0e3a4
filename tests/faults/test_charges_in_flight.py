"""Charges in flight together (BILLING_CHARGE_CONCURRENCY threads in each worker process)
stay exactly once: two real workers given the same chunk at once, and a worker killed while
several of its chunk's charges are under way, still leave one charge per invoice."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from accounts.models import Account, Membership
from billing.models import AutoCharge
from billing.tasks import billing_run_chunk_task
from invoices.documents import RenderedPdf
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment
from payments.tasks import payments_settle_task
from portal.celery import app
from sandbox_gateway.models import SandboxRequest
from tests.factories import AccountFactory, MembershipFactory, UserFactory

from .worker_processes import kill, log_entries, worker_process

DAY = "2026-10-01"
BROKER_KEYS = ("money", "emails", "pdfs", "default", "unacked", "unacked_index")


def _wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            states = list(Payment.objects.values_list("account_id", "state"))
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s: {states}")
        time.sleep(0.1)


def _succeeded() -> int:
    return Payment.objects.filter(state=Payment.State.SUCCEEDED).count()


def _customers(rep, add_card, count: int) -> list[Account]:
    accounts = []
    for n in range(count):
        account = AccountFactory(company_name=f"Customer {n}")
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        payment_method_approve(payment_method=add_card(account, owner), by=rep)
        RecurringCharge.objects.create(
            account=account,
            description="Virtual Server",
            unit_price=Decimal("40.00"),
            starts_on=date(2026, 10, 1),
        )
        accounts.append(account)
    return accounts


def _charged_once_each(accounts: list[Account]) -> None:
    for account in accounts:
        invoice = Invoice.objects.get(account=account)
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
        assert Payment.objects.filter(account=account).count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == len(accounts)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(accounts) + 1)]


@pytest.fixture
def broker(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> redis.Redis:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(*BROKER_KEYS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr("invoices.documents.render_pdf", lambda html: RenderedPdf(b"%PDF-", 1))
    app.conf.task_always_eager = False
    yield client
    client.delete(*BROKER_KEYS)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_workers_given_the_same_chunk_at_once_charge_each_invoice_once(
    rep, add_card, tmp_path: Path, broker: redis.Redis
) -> None:
    accounts = _customers(rep, add_card, 8)
    log = tmp_path / "tasks.log"
    # Each charge takes 300 ms, so a chunk lasts long enough for the other worker to take
    # the second copy while the first is still running.
    environment = {
        "BILLING_CHARGE_CONCURRENCY": "4",
        "MEDIA_ROOT": str(tmp_path),
        "SANDBOX_LATENCY": "fixed:value=300ms",
    }
    ids = [a.pk for a in accounts]
    with (
        worker_process(name="one", queues="money", environment=environment, log=log),
        worker_process(name="two", queues="money", environment=environment, log=log),
    ):
        # The same chunk twice (a redelivery while the first is still running, or a run
        # started twice), sent once both workers listen: each takes one. Sent earlier, the
        # first worker up could run both before the second one started.
        _wait_for(
            lambda: sum(e[1] == "ready" for e in log_entries(log)) == 2,
            timeout=60,
            what="both workers ready",
        )
        billing_run_chunk_task.delay(ids, DAY)
        billing_run_chunk_task.delay(ids, DAY)
        _wait_for(lambda: _succeeded() == len(accounts), timeout=90, what="every charge")
        _wait_for(lambda: broker.hlen("unacked") == 0, timeout=60, what="both chunks done")
    starts = [
        e for e in log_entries(log) if e[1] == "start" and e[3] == "billing.billing_run_chunk"
    ]
    assert len(starts) == 2
    assert len({pid for *_rest, pid in starts}) == 2, "one worker ran both chunks"
    _charged_once_each(accounts)


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_with_charges_in_flight_leaves_one_charge_per_invoice(
    rep, add_card, tmp_path: Path, broker: redis.Redis
) -> None:
    accounts = _customers(rep, add_card, 6)
    log = tmp_path / "tasks.log"
    marker = tmp_path / "held"
    faults = {
        "BROKER_VISIBILITY_TIMEOUT": "5",
        "PAYMENT_SETTLE_AFTER_SECONDS": "1",
        "MEDIA_ROOT": str(tmp_path),
        "BILLING_CHARGE_CONCURRENCY": "3",
    }
    billing_run_chunk_task.delay([a.pk for a in accounts], DAY)
    with worker_process(
        name="doomed",
        queues="money",
        environment={
            **faults,
            "FAULT_HOLD_AFTER_CHARGES": "3",
            "FAULT_HOLD_MARKER": str(marker),
        },
        log=log,
    ) as doomed:
        # The third charge is made at the processor and its answer held; the other threads
        # go on with the chunk's other charges until the worker is killed.
        _wait_for(marker.exists, timeout=60, what="the third charge")
        time.sleep(0.5)
        kill(doomed)
    assert broker.hlen("unacked") == 1, "the chunk is not left unacknowledged"
    made_before = SandboxRequest.objects.filter(kind="charge").count()
    assert 3 <= made_before <= len(accounts)
    assert _succeeded() < len(accounts)

    with worker_process(name="next", queues="money", environment=faults, log=log):
        _wait_for(lambda: broker.hlen("unacked") == 0, timeout=60, what="the chunk run again")
        # What was left without an answer is asked about, never charged again.
        payments_settle_task.delay()
        _wait_for(lambda: _succeeded() == len(accounts), timeout=60, what="every charge")
    _charged_once_each(accounts)
