"""A worker killed in the middle of a chunk of the billing run: the chunk stays
unacknowledged in Redis, is handed to the next worker once BROKER_VISIBILITY_TIMEOUT has
passed, and every account of the run is billed and charged exactly once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import redis

from accounts.models import Membership
from billing.models import AutoCharge
from billing.tasks import billing_run_task
from invoices.documents import RenderedPdf
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment
from payments.tasks import payments_settle_task
from portal.celery import app
from sandbox_gateway.models import SandboxRequest
from tests.factories import AccountFactory, MembershipFactory, UserFactory

from .worker_processes import kill, log_entries, worker_process

VISIBILITY_TIMEOUT = 5  # seconds: short, so that the test waits for it
ACCOUNTS = 6
CHUNK_SIZE = 3
# A worker takes a few seconds to start on a busy machine; the broker's restore runs every
# second with this timeout.
SLACK = 4.0
# The broker's keys of this project's queues and of the tasks taken but not acknowledged.
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


def _starts(log: Path, task_name: str) -> list[tuple[float, str, int]]:
    return [
        (t, task_id, pid)
        for t, what, task_id, name, pid in log_entries(log)
        if what == "start" and name == task_name
    ]


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_chunk_of_a_killed_worker_is_redelivered_after_the_visibility_timeout_and_billed_once(
    settings, rep, add_card, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    broker = redis.Redis.from_url(settings.REDIS_URL)
    broker.delete(*BROKER_KEYS)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(
        "invoices.documents.render_invoice_pdf", lambda *args: RenderedPdf(b"%PDF-", 1)
    )
    settings.BILLING_CHUNK_SIZE = CHUNK_SIZE
    accounts = []
    for n in range(ACCOUNTS):
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
    log = tmp_path / "tasks.log"
    marker = tmp_path / "held"
    faults = {
        "BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
        # The redelivered chunk asks the gateway about the charge left without an answer
        # (rather than waiting the minute a settler would).
        "PAYMENT_SETTLE_AFTER_SECONDS": "1",
        "MEDIA_ROOT": str(tmp_path),
        # One charge after the other, as this test tells it (test_charges_in_flight has the
        # same story with charges in flight together).
        "BILLING_CHARGE_CONCURRENCY": "1",
    }

    app.conf.task_always_eager = False
    try:
        # The day's run hands the six accounts to the money queue in two chunks of three.
        assert billing_run_task("2026-10-01") == ACCOUNTS
        with worker_process(
            name="doomed",
            queues="money",
            environment={
                **faults,
                "FAULT_HOLD_AFTER_CHARGES": "2",
                "FAULT_HOLD_MARKER": str(marker),
            },
            log=log,
        ) as doomed:
            # The second account's card is charged at the processor; the answer is on its
            # way back when the worker is killed, with the third account not started.
            _wait_for(marker.exists, timeout=40, what="the second charge of the first chunk")
            kill(doomed)
            killed_at = time.time()
        [(first_start, chunk_id, _pid)] = _starts(log, "billing.billing_run_chunk")
        assert broker.hlen("unacked") == 1, "the chunk is not left unacknowledged"
        assert _succeeded() == 1
        assert Payment.objects.filter(state=Payment.State.PROCESSING).count() == 1

        with worker_process(name="next", queues="money", environment=faults, log=log):
            _wait_for(
                lambda: _succeeded() == ACCOUNTS - 1,
                timeout=VISIBILITY_TIMEOUT + 40,
                what="both chunks run",
            )
            _wait_for(lambda: broker.hlen("unacked") == 0, timeout=10, what="the chunks acked")
            # The charge whose answer was lost is never made again: the settler (every
            # minute, on the money queue too) asks the processor what became of it.
            assert Payment.objects.filter(state=Payment.State.PROCESSING).count() == 1
            payments_settle_task.delay()
            _wait_for(lambda: _succeeded() == ACCOUNTS, timeout=30, what="the lost answer settled")
    finally:
        broker.delete(*BROKER_KEYS)

    chunk_starts = _starts(log, "billing.billing_run_chunk")
    assert len(chunk_starts) == 3  # chunk one, killed; chunk one again; chunk two
    [again] = [t for t, task_id, _pid in chunk_starts[1:] if task_id == chunk_id]
    [ready] = [t for t, what, *_rest in log_entries(log) if what == "ready"][1:]
    # Handed out again once its visibility timeout had passed (not before), as soon as a
    # worker was there to take it.
    assert again >= first_start + VISIBILITY_TIMEOUT
    assert again <= max(first_start + VISIBILITY_TIMEOUT, ready) + SLACK
    assert again - killed_at <= VISIBILITY_TIMEOUT + 30

    for account in accounts:
        invoice = Invoice.objects.get(account=account)
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
        assert Payment.objects.filter(account=account).count() == 1
    # Charged once each at the processor: the held charge was looked up, never made again.
    assert SandboxRequest.objects.filter(kind="charge").count() == ACCOUNTS
