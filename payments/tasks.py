from __future__ import annotations

import logging
from datetime import date

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from .billing import (
    autocharge_attempt,
    autocharges_due,
    billing_accounts,
    billing_run_account,
    chunks,
)
from .checkout import payment_paypal_sync, payments_settle
from .refunds import payment_refund_unapplied, refunds_settle
from .services import (
    RetryLater,
    payment_method_give_up_verifying,
    payment_method_verify,
    payment_methods_check_promise,
    payment_methods_expire,
)

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="payments.verify_payment_method",
    max_retries=settings.CARD_VERIFY_MAX_RETRIES,
    acks_late=True,
)
def payment_method_verify_task(self: Task, payment_method_id: int) -> str:
    """Verify a newly added card with the gateway; a gateway that cannot answer is asked
    again later (the same idempotency key, so the card is checked once)."""
    try:
        return payment_method_verify(payment_method_id).state
    except RetryLater as error:
        if self.request.retries >= (self.max_retries or 0):
            payment_method_give_up_verifying(payment_method_id)
            return "gave_up"
        raise self.retry(exc=error, countdown=60 * 2**self.request.retries) from error


@shared_task(name="payments.check_approval_promise")
def check_approval_promise_task() -> list[int]:
    """Escalate undecided cards and record missed promises (each once per card)."""
    escalated, breached = payment_methods_check_promise(now=timezone.now())
    return [escalated, breached]


@shared_task(name="payments.billing_run")
def billing_run_task(day: str | None = None) -> int:
    """The day's billing: mark expired cards, then hand the accounts with something to do
    (invoices to issue, charges due, late fees) to the workers in chunks. Safe to run again
    for the same day. Returns the number of accounts handed out."""
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    payment_methods_expire(today=run_day)
    account_ids = billing_accounts(run_day, timezone.now())
    for chunk in chunks(account_ids, settings.BILLING_CHUNK_SIZE):
        billing_run_chunk_task.delay(chunk, run_day.isoformat())
    logger.info("Billing run for %s: %d account(s) handed out.", run_day, len(account_ids))
    return len(account_ids)


@shared_task(name="payments.billing_run_chunk", acks_late=True)
def billing_run_chunk_task(account_ids: list[int], day: str) -> dict[str, int]:
    """One chunk of a day's billing run. A worker that dies mid-chunk leaves the chunk to be
    delivered again (acks late): what was done is found done and not done twice."""
    run_day = date.fromisoformat(day)
    totals = {"accounts": 0, "issued": 0, "charged": 0, "late_fees": 0, "failed": 0}
    for account_id in account_ids:
        try:
            run = billing_run_account(account_id=account_id, day=run_day, now=timezone.now())
        except Exception:
            # One account's failure must not hold the others back; what it still owes stays
            # due and the next run picks it up.
            totals["failed"] += 1
            logger.exception("Billing run for account %s on %s failed.", account_id, day)
            continue
        totals["accounts"] += 1
        totals["issued"] += len(run.issued)
        totals["charged"] += len(run.charges)
        totals["late_fees"] += len(run.late_fees)
    return totals


@shared_task(name="payments.charge_due", acks_late=True)
def charge_due_task() -> int:
    """Automatic charges whose retry is due between billing runs (processing errors)."""
    due = autocharges_due(timezone.now())
    for autocharge_id in due:
        autocharge_attempt_task.delay(autocharge_id)
    return len(due)


@shared_task(name="payments.autocharge_attempt", acks_late=True)
def autocharge_attempt_task(autocharge_id: int) -> str:
    return autocharge_attempt(autocharge_id=autocharge_id, now=timezone.now()).state


@shared_task(name="payments.expire_cards")
def expire_cards_task() -> list[int]:
    """Mark expired cards and warn the contacts of cards about to expire."""
    expired, warned = payment_methods_expire(today=timezone.localdate())
    return [expired, warned]


@shared_task(name="payments.settle_payments", acks_late=True)
def settle_payments_task() -> list[int]:
    """Settle payments and refunds without a sure answer by asking the gateways."""
    now = timezone.now()
    return [payments_settle(now=now), refunds_settle(now=now)]


@shared_task(name="payments.refund_unapplied", acks_late=True)
def refund_unapplied_task(payment_id: int) -> str:
    """Give back what a payment could not apply (the balance was paid meanwhile)."""
    refund = payment_refund_unapplied(payment_id=payment_id)
    return refund.state if refund else "nothing"


@shared_task(name="payments.paypal_sync", acks_late=True)
def paypal_sync_task(payment_id: int) -> str:
    """Act on a PayPal webhook: capture an approved order, record a capture's outcome."""
    return payment_paypal_sync(payment_id=payment_id).state
