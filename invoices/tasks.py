from __future__ import annotations

import logging
from datetime import date

from celery import shared_task
from django.utils import timezone

from accounts.models import Account

from .services import accounts_due_for_run, recurring_run_account

logger = logging.getLogger(__name__)


@shared_task(name="invoices.recurring_run")
def recurring_run_task(day: str | None = None) -> int:
    """Issue the day's New and Recurring invoices, one account per transaction.

    Safe to run again for the same day: each account's run finds what it already issued.
    Returns the number of invoices issued.
    """
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    issued = 0
    for account_id in accounts_due_for_run(run_day):
        account = Account.objects.get(pk=account_id)
        result = recurring_run_account(account=account, day=run_day)
        issued += len(result.new) + len(result.recurring)
    logger.info("Recurring run for %s issued %d invoice(s).", run_day, issued)
    return issued
