"""A chunk task near the end of its chunk takes the run's next chunk no task has started
(`billing.pending`), so that its charge threads never wait idle on a chunk's last answers;
each chunk is still done by one task, and a redelivered chunk runs again what its task took."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
import redis
from django.db import connections

from accounts.models import Account, Membership
from billing.models import AutoCharge
from billing.pending import _prefix, chunk_claim, chunk_take, chunks_hand_out
from billing.run import ChargePool, longest_chunk_seconds, run_chunks
from billing.tasks import billing_run_chunk_task
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment
from sandbox_gateway.models import SandboxRequest
from tests.factories import AccountFactory, MembershipFactory, UserFactory

DAY = "2026-10-01"


@pytest.fixture
def listed(settings) -> redis.Redis:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter(f"{_prefix()}:*"):
        client.delete(key)


def _customers(rep, add_card, count: int) -> list[Account]:
    accounts = []
    for n in range(count):
        account = AccountFactory(company_name=f"Customer {n}")
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        payment_method_approve(payment_method=add_card(account, owner), by=rep)
        RecurringCharge.objects.create(
            account=account,
            description="VPS",
            unit_price=Decimal("20.00"),
            starts_on=date(2026, 10, 1),
        )
        accounts.append(account)
    return accounts


def _run(chunk: list[int]) -> dict[str, int]:
    return billing_run_chunk_task.apply(args=[chunk, DAY]).get()


def _charged_once_each(accounts: list[Account]) -> None:
    for account in accounts:
        invoice = Invoice.objects.get(account=account)
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
        assert Payment.objects.filter(account=account).count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == len(accounts)
    numbers = list(Invoice.objects.order_by("account_id").values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(accounts) + 1)]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_task_takes_the_next_chunks_and_their_messages_find_nothing_to_do(
    settings, rep, add_card, listed: redis.Redis
) -> None:
    settings.BILLING_CHARGE_CONCURRENCY = 3
    settings.BILLING_CHUNK_SIZE = 3
    accounts = _customers(rep, add_card, 7)
    chunks = list(run_chunks([a.pk for a in accounts], 3))
    assert chunks_hand_out(DAY, chunks) is not None
    try:
        first = _run(chunks[0])
        later = [_run(chunk) for chunk in chunks[1:]]
    finally:
        connections.close_all()
    # The first task issued and charged every chunk of the run, its own first.
    assert (first["accounts"], first["issued"], first["charged"], first["failed"]) == (7, 7, 7, 0)
    assert all(totals["accounts"] == 0 for totals in later)
    _charged_once_each(accounts)


def test_a_chunk_of_no_listed_run_takes_nothing(db, rep, add_card, listed: redis.Redis) -> None:
    accounts = _customers(rep, add_card, 4)
    chunks = [[a.pk for a in accounts[:2]], [a.pk for a in accounts[2:]]]
    # Sent on its own (a run that could not list its chunks, a chunk sent by hand).
    assert _run(chunks[0])["accounts"] == 2
    assert not Invoice.objects.filter(account__in=accounts[2:]).exists()


def test_a_redelivered_chunk_runs_again_what_its_task_had_taken(
    db, rep, add_card, listed: redis.Redis
) -> None:
    accounts = _customers(rep, add_card, 6)
    chunks = [[a.pk for a in accounts[n : n + 2]] for n in (0, 2, 4)]
    chunks_hand_out(DAY, chunks)
    # The first delivery took its chunk and the next one, and its worker died there.
    claim = chunk_claim(chunks[0], DAY)
    assert claim is not None and not claim.taken
    assert chunk_take(claim) == chunks[1]

    # Delivered again, it runs its own chunk, the one it had taken, and the last one.
    assert _run(chunks[0])["accounts"] == 6
    # The two others' messages find their chunks taken: nothing is run twice.
    assert [_run(chunk)["accounts"] for chunk in chunks[1:]] == [0, 0]
    # Delivered once more (a run started twice), it has nothing taken to run again.
    again = chunk_claim(chunks[0], DAY)
    assert again is not None and again.earlier == [] and not again.taken
    _charged_once_each(accounts)


def test_no_chunk_is_taken_that_could_end_after_the_visibility_timeout(
    settings, db, rep, add_card, listed: redis.Redis
) -> None:
    accounts = _customers(rep, add_card, 4)
    chunks = [[a.pk for a in accounts[:2]], [a.pk for a in accounts[2:]]]
    chunks_hand_out(DAY, chunks)
    settings.BROKER_VISIBILITY_TIMEOUT = longest_chunk_seconds()
    assert _run(chunks[0])["accounts"] == 2
    assert _run(chunks[1])["accounts"] == 2


def test_without_redis_each_chunk_runs_on_its_own(settings, db, rep, add_card) -> None:
    accounts = _customers(rep, add_card, 4)
    chunks = [[a.pk for a in accounts[:2]], [a.pk for a in accounts[2:]]]
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    assert chunks_hand_out(DAY, chunks) is None
    assert [_run(chunk)["accounts"] for chunk in chunks] == [2, 2]


def test_the_next_batch_waits_while_too_many_calls_wait_for_a_thread() -> None:
    release = threading.Event()
    recorded: list[int] = []
    with ChargePool(2) as pool:
        assert not pool.inline
        for key in range(5):  # two taken by the threads at once, three waiting
            pool.submit(key, release.wait)
        waited = threading.Thread(
            target=pool.wait_for_room, args=(3,), kwargs={"meanwhile": lambda: recorded.append(1)}
        )
        waited.start()
        waited.join(timeout=0.3)
        assert waited.is_alive(), "it did not wait while three calls waited for a thread"
        assert len(recorded) >= 2, "nothing was recorded while it waited"
        release.set()  # the threads take the next calls: fewer than three wait
        waited.join(timeout=5)
        assert not waited.is_alive()
