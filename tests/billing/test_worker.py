"""The billing run on a real Celery worker: fanned out in chunks, run twice, each account
billed and charged once."""

from __future__ import annotations

import threading
import time
from datetime import date
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker

from accounts.models import Membership
from billing.models import AutoCharge
from billing.tasks import billing_run_chunk_task, billing_run_task
from invoices.models import Invoice, RecurringCharge
from payments.cards import payment_method_approve
from payments.models import Payment
from portal.celery import app
from sandbox_gateway.models import SandboxRequest
from tests.factories import AccountFactory, MembershipFactory, UserFactory

_done = threading.Event()


@app.task(name="tests.payments.mark_done")
def mark_done() -> None:
    _done.set()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_billing_run_twice_on_a_real_worker_bills_and_charges_each_account_once(
    settings, rep, add_card
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set")
    settings.BILLING_CHUNK_SIZE = 2
    accounts = []
    for n in range(5):
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

    app.conf.task_always_eager = False
    _done.clear()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        # The daily task hands the five accounts to the worker in chunks of two.
        assert billing_run_task("2026-10-01") == 5
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 5:
                break
            time.sleep(0.2)
        # The same day again finds nothing to do, and a chunk delivered twice does nothing.
        assert billing_run_task("2026-10-01") == 0
        billing_run_chunk_task.delay([a.pk for a in accounts[:2]], "2026-10-01")
        mark_done.delay()  # the solo worker runs tasks in order: this one comes last
        assert _done.wait(timeout=60), "the worker did not finish"

    for account in accounts:
        invoice = Invoice.objects.get(account=account)
        assert invoice.state == Invoice.State.PAID
        assert invoice.autocharge.state == AutoCharge.State.SUCCEEDED
        assert Payment.objects.filter(account=account).count() == 1
    assert SandboxRequest.objects.filter(kind="charge").count() == 5
