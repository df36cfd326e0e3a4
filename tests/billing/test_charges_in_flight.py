"""The charges of a chunk in flight together (BILLING_CHARGE_CONCURRENCY threads, each with
its own database connection), under the rate limit shared through Redis."""

from __future__ import annotations

import socket
from datetime import date
from decimal import Decimal

import pytest
import redis
from django.db import connection, connections

from accounts.models import Account, Membership
from billing.charges import autocharge_attempt
from billing.models import AutoCharge
from billing.run import ChargePool, billing_run, billing_run_chunk
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve
from payments.models import GatewayAttempt, Payment
from payments.rate_limit import bucket_key
from sandbox_gateway.models import SandboxRequest
from tests.billing.clock import at
from tests.factories import AccountFactory, MembershipFactory, UserFactory

DAY = date(2026, 10, 1)


def _dead_redis_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


@pytest.fixture
def limited(settings) -> redis.Redis:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(bucket_key("sandbox"))
    settings.GATEWAY_MAX_REQUESTS_PER_SECOND = 40
    settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS = 30
    yield client
    client.delete(bucket_key("sandbox"))


def _customers(rep, add_card, count: int) -> list[Account]:
    accounts = []
    for n in range(count):
        account = AccountFactory(company_name=f"Customer {n}")
        owner = UserFactory(email=f"owner{n}@example.com")
        MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
        payment_method_approve(payment_method=add_card(account, owner), by=rep)
        RecurringCharge.objects.create(
            account=account, description="VPS", unit_price=Decimal("20.00"), starts_on=DAY
        )
        accounts.append(account)
    return accounts


def test_inside_a_transaction_the_pool_runs_each_job_in_the_callers_thread(db) -> None:
    assert connection.in_atomic_block
    pool = ChargePool(8)
    ran: list[str] = []
    with pool:
        pool.submit(1, lambda: ran.append(connection.alias))
        assert ran == ["default"]  # at once, here
    assert pool.inline


@pytest.mark.django_db(transaction=True)
def test_a_chunk_charged_by_several_threads_charges_each_invoice_once(
    settings, rep, add_card, limited: redis.Redis
) -> None:
    settings.BILLING_CHARGE_CONCURRENCY = 4
    accounts = _customers(rep, add_card, 7)
    try:
        done = billing_run_chunk(account_ids=[a.pk for a in accounts], day=DAY, now=at(DAY))
        again = billing_run_chunk(account_ids=[a.pk for a in accounts], day=DAY, now=at(DAY))
    finally:
        connections.close_all()
    assert done.failed == [] and again.failed == []
    assert sorted(done.runs) == sorted(a.pk for a in accounts)
    assert all(len(run.charges) == 1 for run in done.runs.values())
    assert all(not run.issued and not run.charges for run in again.runs.values())
    for account in accounts:
        invoice = Invoice.objects.get(account=account)
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
        assert Payment.objects.filter(account=account).count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == len(accounts)
    # The numbers follow the accounts' order, without a gap.
    numbers = list(Invoice.objects.order_by("account_id").values_list("number", flat=True))
    assert numbers == [f"INV-{n:06d}" for n in range(1, len(accounts) + 1)]


@pytest.mark.django_db(transaction=True)
def test_an_automatic_charge_without_redis_is_not_made_and_is_made_once_later(
    settings, rep, add_card, limited: redis.Redis
) -> None:
    [account] = _customers(rep, add_card, 1)
    working = settings.REDIS_URL
    settings.REDIS_URL = _dead_redis_url()
    settings.GATEWAY_RATE_LIMIT_WAIT_SECONDS = 1
    settings.BILLING_CHARGE_CONCURRENCY = 4
    try:
        billing_run(day=DAY, now=at(DAY))
    finally:
        connections.close_all()
    charge = AutoCharge.objects.get()
    # Recorded before the call, never sent: a failure before reaching the gateway, tried
    # again on the processing-error schedule.
    assert not SandboxRequest.objects.filter(kind="charge").exists()
    [attempt] = GatewayAttempt.objects.filter(kind=GatewayAttempt.Kind.CHARGE)
    assert attempt.status == GatewayAttempt.Status.FAILED
    assert charge.state == AutoCharge.State.SCHEDULED
    assert charge.next_attempt_at is not None
    assert Invoice.objects.get(account=account).state == Invoice.State.OPEN

    settings.REDIS_URL = working
    autocharge_attempt(autocharge_id=charge.pk, now=charge.next_attempt_at)
    charge.refresh_from_db()
    assert charge.state == AutoCharge.State.SUCCEEDED
    assert SandboxRequest.objects.filter(kind="charge").count() == 1
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 1
    assert Invoice.objects.get(account=account).state == Invoice.State.PAID
