"""The monthly cycle's tasks: each calls the service of the same name."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments.cards import payment_methods_expire
from payments.tasks import forwarding_to

from .charges import autocharge_attempt, autocharges_confirmation_sweep, autocharges_due
from .instruments import billing_chunk_observed
from .run import billing_accounts, billing_run_chunk, run_chunks

logger = logging.getLogger(__name__)


@shared_task(name="billing.billing_run")
def billing_run_task(day: str | None = None) -> int:
    """The day's billing: mark expired cards, then hand the accounts with something to do
    (invoices to issue, charges due, late fees) to the workers in chunks. Safe to run again
    for the same day. Returns the number of accounts handed out."""
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    payment_methods_expire(today=run_day)
    account_ids = billing_accounts(day=run_day, now=timezone.now())
    for chunk in run_chunks(account_ids, settings.BILLING_CHUNK_SIZE):
        billing_run_chunk_task.delay(chunk, run_day.isoformat())
    logger.info("Billing run for %s: %d account(s) handed out.", run_day, len(account_ids))
    return len(account_ids)


@shared_task(name="billing.billing_run_chunk", acks_late=True)
def billing_run_chunk_task(account_ids: list[int], day: str) -> dict[str, int]:
    """One chunk of a day's billing run (`billing_run_chunk`). A worker that dies mid-chunk
    leaves the chunk to be delivered again (acks late): what was done is found done and not
    done twice."""
    done = billing_run_chunk(
        account_ids=account_ids, day=date.fromisoformat(day), now=timezone.now()
    )
    runs = done.runs.values()
    totals = {
        "accounts": len(done.runs),
        "issued": sum(len(run.issued) for run in runs),
        "charged": sum(len(run.charges) for run in runs),
        "late_fees": sum(len(run.late_fees) for run in runs),
        "failed": len(done.failed),
    }
    billing_chunk_observed(totals)
    return totals


@shared_task(name="billing.autocharges_due", acks_late=True)
def autocharges_due_task() -> int:
    """Automatic charges whose retry is due between billing runs (processing errors)."""
    due = autocharges_due(now=timezone.now())
    for autocharge_id in due:
        autocharge_attempt_task.delay(autocharge_id)
    return len(due)


@shared_task(name="billing.autocharges_confirmation_sweep")
def autocharges_confirmation_sweep_task() -> list[int]:
    """Charges waiting for the customer's confirmation: settled, reminded, or given up."""
    reminded, given_up = autocharges_confirmation_sweep(now=timezone.now())
    return [reminded, given_up]


@shared_task(name="billing.autocharge_attempt", acks_late=True)
def autocharge_attempt_task(autocharge_id: int) -> str:
    return autocharge_attempt(autocharge_id=autocharge_id, now=timezone.now()).state


# The names these tasks had while the monthly cycle was part of the payments app
# (CHANGELOG): a message queued under one still runs. To be removed in the next release.
FORMER_NAMES: dict[str, Any] = {
    "payments.billing_run": billing_run_task,
    "payments.billing_run_chunk": billing_run_chunk_task,
    "payments.charge_due": autocharges_due_task,
    "payments.autocharge_attempt": autocharge_attempt_task,
}
for _former, _task in FORMER_NAMES.items():
    shared_task(name=_former, acks_late=True)(forwarding_to(_task))
