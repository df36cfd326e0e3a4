"""The monthly cycle's tasks: each calls the service of the same name."""

from __future__ import annotations

import logging
import time
from datetime import date
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from payments.cards import payment_methods_expire
from payments.tasks import forwarding_to

from .charges import autocharge_attempt, autocharges_confirmation_sweep, autocharges_due
from .instruments import billing_chunk_observed
from .pending import chunk_claim, chunk_finished, chunk_take, chunks_hand_out
from .run import billing_accounts, billing_run_chunk, longest_chunk_seconds, run_chunks

logger = logging.getLogger(__name__)


@shared_task(name="billing.billing_run")
def billing_run_task(day: str | None = None) -> int:
    """The day's billing: mark expired cards, then hand the accounts with something to do
    (invoices to issue, charges due, late fees) to the workers in chunks, listed in Redis
    too, so that a worker near the end of its chunk takes the next one no worker has
    started (`billing.pending`). Safe to run again for the same day. Returns the number of
    accounts handed out."""
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    payment_methods_expire(today=run_day)
    account_ids = billing_accounts(day=run_day, now=timezone.now())
    chunks = list(run_chunks(account_ids, settings.BILLING_CHUNK_SIZE))
    chunks_hand_out(run_day.isoformat(), chunks)
    for chunk in chunks:
        billing_run_chunk_task.delay(chunk, run_day.isoformat())
    logger.info("Billing run for %s: %d account(s) handed out.", run_day, len(account_ids))
    return len(account_ids)


@shared_task(name="billing.billing_run_chunk", acks_late=True)
def billing_run_chunk_task(account_ids: list[int], day: str) -> dict[str, int]:
    """One chunk of a day's billing run (`billing_run_chunk`), and, once its own accounts are
    issued, the run's next chunks that no task has started (`billing.pending`), for as long
    as one more fits in the visibility timeout. A worker that dies mid-chunk leaves the chunk
    to be delivered again (acks late): what was done is found done and not done twice, and
    what the task had taken is run again with it. A chunk another task took has nothing left
    to do."""
    claim = chunk_claim(account_ids, day)
    if claim is not None and claim.taken:
        logger.info(
            "A billing chunk of %d account(s) on %s was taken by another task.",
            len(account_ids),
            day,
        )
        return {"accounts": 0, "issued": 0, "charged": 0, "late_fees": 0, "failed": 0}
    started = time.monotonic()
    earlier = list(claim.earlier) if claim is not None else []

    def more() -> list[int] | None:
        if earlier:
            return earlier.pop(0)
        # Another chunk only if it can end within the visibility timeout, as the first did.
        elapsed = time.monotonic() - started
        if claim is None or elapsed + longest_chunk_seconds() >= settings.BROKER_VISIBILITY_TIMEOUT:
            return None
        return chunk_take(claim)

    done = billing_run_chunk(
        account_ids=account_ids, day=date.fromisoformat(day), now=timezone.now(), more=more
    )
    if claim is not None:
        chunk_finished(claim)
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
