"""The monthly cycle: each day's billing run issues the New and Recurring invoices, charges
them to the card on file, retries declined charges on the dunning schedule and charges late
fees on invoices still unpaid after their grace period.

The run is a list of accounts handed to the workers in chunks; everything done for an
account is safe to do again (invoices record how far they are issued, an automatic charge
is one row per invoice with its state checked under the account's lock, a late fee is one
row per invoice and period), so a chunk that a dying worker leaves half done is simply run
again. As everywhere, no lock is held while the gateway is called.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.locks import account_lock
from accounts.models import Account
from invoices.models import Invoice
from invoices.money import round_money
from invoices.services import accounts_due_for_run, recurring_run_account
from payments.cards import payment_methods_expire

from .charges import autocharge_attempt, usable_card
from .late_fees import (
    late_fee_amount,
    late_fee_period,
    late_fees_account,
    overdue_invoices,
)
from .models import AutoCharge, LateFee


def billing_accounts(*, day: date, now: datetime) -> list[int]:
    """Ids of the accounts with something to do on `day`: invoices to issue, automatic
    charges due, or invoices past their grace period."""
    ids = set(accounts_due_for_run(day))
    ids.update(
        AutoCharge.objects.filter(
            state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now
        ).values_list("account_id", flat=True)
    )
    ids.update(overdue_invoices(day).values_list("account_id", flat=True))
    return sorted(ids)


def chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


@dataclass
class AccountRun:
    account_id: int
    issued: list[Invoice] = field(default_factory=list)
    charges: list[AutoCharge] = field(default_factory=list)
    late_fees: list[LateFee] = field(default_factory=list)


def billing_run_account(*, account_id: int, day: date, now: datetime) -> AccountRun:
    """Everything the monthly cycle does for one account on `day`; safe to run again."""
    run = AccountRun(account_id)
    with transaction.atomic():
        account = account_lock(account_id)
        result = recurring_run_account(account=account, day=day)
        run.issued = [*result.new, *result.recurring]
        for invoice in run.issued:
            invoice.refresh_from_db(fields=["balance", "state"])
            if invoice.balance > 0:
                # Issued in this very transaction: it has no automatic charge yet.
                AutoCharge.objects.create(invoice=invoice, account=account, next_attempt_at=now)
    due = AutoCharge.objects.filter(
        account_id=account_id, state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now
    ).order_by("invoice__issue_date", "invoice_id")
    run.charges = [
        autocharge_attempt(autocharge_id=pk, now=now) for pk in due.values_list("pk", flat=True)
    ]
    run.late_fees = late_fees_account(account_id=account_id, day=day)
    return run


def billing_run(
    *, day: date, now: datetime, progress: Callable[[AccountRun, int], object] | None = None
) -> list[AccountRun]:
    """The whole day in this process (what `run_billing` does by hand); `progress(run,
    total)` is called after each account (the command's progress bar)."""
    payment_methods_expire(today=day)
    account_ids = billing_accounts(day=day, now=now)
    runs = []
    for account_id in account_ids:
        runs.append(billing_run_account(account_id=account_id, day=day, now=now))
        if progress is not None:
            progress(runs[-1], len(account_ids))
    return runs


# What a day's run would do (`run_billing --dry-run`) ------------------------------------------


@dataclass
class PlannedAccount:
    account: Account
    invoices: list[tuple[str, str, Decimal, str]] = field(default_factory=list)
    charges: list[tuple[str, Decimal, str, str]] = field(default_factory=list)
    late_fees: list[tuple[str, Decimal, str]] = field(default_factory=list)


class _Rollback(Exception):
    pass


def billing_plan(*, day: date, now: datetime) -> list[PlannedAccount]:
    """What the run for `day` would issue, charge and fee, without doing any of it: the
    invoices are issued in a transaction that is rolled back, and no gateway is called."""
    plans = []
    for account_id in billing_accounts(day=day, now=now):
        account = Account.objects.get(pk=account_id)
        plan = PlannedAccount(account)
        try:
            with transaction.atomic():
                _plan_account(plan, day=day, now=now)
                raise _Rollback
        except _Rollback:
            pass
        if plan.invoices or plan.charges or plan.late_fees:
            plans.append(plan)
    return plans


def _plan_account(plan: PlannedAccount, *, day: date, now: datetime) -> None:
    account = plan.account
    result = recurring_run_account(account=account, day=day)
    issued = [*result.new, *result.recurring]
    for invoice in issued:
        invoice.refresh_from_db(fields=["balance"])
        plan.invoices.append(
            (invoice.get_type_display(), invoice.number, invoice.total, invoice.currency)
        )
    card = usable_card(account, day)
    to_charge = [i for i in issued if i.balance > 0] + [
        c.invoice
        for c in AutoCharge.objects.filter(
            account=account, state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now
        ).select_related("invoice")
    ]
    for invoice in to_charge:
        plan.charges.append(
            (
                invoice.number,
                round_money(invoice.balance, invoice.currency),
                invoice.currency,
                str(card) if card else str(_("no usable card")),
            )
        )
    for invoice in overdue_invoices(day).filter(account=account):
        period = late_fee_period(invoice, day)
        if not LateFee.objects.filter(invoice=invoice, period=period).exists():
            fee = late_fee_amount(invoice.balance, invoice.currency)
            if fee > 0:
                plan.late_fees.append((invoice.number, fee, invoice.currency))
