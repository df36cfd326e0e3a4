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

import logging
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.conf import settings
from django.db import connections, transaction
from django.utils.translation import gettext as _

from accounts.locks import account_lock
from accounts.models import Account
from invoices.models import Invoice
from invoices.money import round_money
from invoices.services import (
    accounts_due_for_run,
    recurring_run_account,
    recurring_run_accounts,
)
from payments.cards import payment_methods_expire
from payments.gateways.base import GatewayResult

from .charges import (
    StartedCharge,
    autocharge_attempt,
    autocharge_send,
    autocharges_record_outcomes,
    autocharges_start_together,
    usable_card,
)
from .late_fees import (
    late_fee_amount,
    late_fee_period,
    late_fees_account,
    overdue_invoices,
)
from .models import AutoCharge, LateFee

logger = logging.getLogger(__name__)


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


# The first chunks handed out ramp up to the full size in this many steps.
STAGGER = 4


def run_chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    """The day's accounts in the chunks handed to the workers: the first ones a quarter,
    half and three quarters of `size`, then `size` each. Workers that start together and go
    at one pace (the rate limit's) would otherwise end every chunk together, and a chunk's
    end waits for its slowest charges with no new one leaving (about 3 s at a real
    processor), so the processor would get nothing for those seconds; staggered, one
    worker's wait is the others' work. Chunks smaller than STAGGER are not staggered."""
    start = 0
    if size >= STAGGER:
        for step in range(1, STAGGER):
            if start >= len(ids):
                return
            yield ids[start : start + size * step // STAGGER]
            start += size * step // STAGGER
    yield from chunks(ids[start:], size)


@dataclass
class AccountRun:
    account_id: int
    issued: list[Invoice] = field(default_factory=list)
    charges: list[AutoCharge] = field(default_factory=list)
    late_fees: list[LateFee] = field(default_factory=list)


def _schedule_charges(invoices: list[Invoice], now: datetime) -> list[AutoCharge]:
    """The automatic charge of each invoice just issued that owes something (one INSERT)."""
    return AutoCharge.objects.bulk_create(
        [
            AutoCharge(invoice=invoice, account_id=invoice.account_id, next_attempt_at=now)
            for invoice in invoices
            if invoice.balance > 0
        ]
    )


def billing_run_account(*, account_id: int, day: date, now: datetime) -> AccountRun:
    """Everything the monthly cycle does for one account on `day`; safe to run again."""
    done = billing_run_chunk(account_ids=[account_id], day=day, now=now)
    if done.errors:
        raise done.errors[0]
    return done.runs[account_id]


@dataclass
class ChunkRun:
    """What a chunk of the run did for each of its accounts, and the accounts it failed."""

    runs: dict[int, AccountRun] = field(default_factory=dict)
    failed: list[int] = field(default_factory=list)
    # What made them fail (logged already), for a caller that stops at the first.
    errors: list[Exception] = field(default_factory=list)


# Accounts whose invoices are issued together, in one transaction: large enough that a row
# kind costs one statement for many accounts, small enough that the accounts' locks are held
# briefly. The first batch of a chunk is smaller, so that its first charges leave early
# (nothing is in flight until they do).
ISSUE_BATCH = 50
FIRST_ISSUE_BATCH = 10


def issue_batches(ids: list[int]) -> Iterator[list[int]]:
    """`ids` in the batches they are issued in: FIRST_ISSUE_BATCH, then ISSUE_BATCH each."""
    yield ids[:FIRST_ISSUE_BATCH]
    yield from chunks(ids[FIRST_ISSUE_BATCH:], ISSUE_BATCH)


def billing_run_chunk(*, account_ids: list[int], day: date, now: datetime) -> ChunkRun:
    """Everything the monthly cycle does on `day` for a chunk of accounts; safe to run
    again, by any number of workers at once.

    The invoices are issued ISSUE_BATCH accounts at a time (`recurring_run_accounts`: one
    transaction, one statement for each kind of row), with each new invoice's first charge
    recorded in the same commit (`autocharges_start_together`); the batch's calls then leave
    to a pool of BILLING_CHARGE_CONCURRENCY threads (no lock or transaction held during any)
    while the next batch is issued, and the answers that came back are recorded together between
    batches (`autocharges_record_outcomes`: once each). Charges due otherwise (a retry, one
    this could not start plainly) are `autocharge_attempt` on the pool, as on their own; so
    are all of them when the pool runs its jobs one after the other in this thread (a size of
    1, or inside a transaction), each then recorded before the next is sent. A
    batch that fails is issued again one account at a time, so that one account's trouble
    holds no other back; an account that fails is left to the next run. Late fees come
    last."""
    result = ChunkRun()
    failed: set[int] = set()
    errors = result.errors
    ids = list(dict.fromkeys(account_ids))
    answers = _Answers()
    with ChargePool(settings.BILLING_CHARGE_CONCURRENCY) as pool:
        for batch in issue_batches(ids):
            issued, started = _issue_batch(
                batch, day=day, now=now, failed=failed, errors=errors, together=not pool.inline
            )
            for each in started:
                pool.submit(each.account_id, _send(each, answers))
            due: dict[int, list[int]] = {}
            for account_id, charge_id in (
                AutoCharge.objects.filter(
                    account_id__in=list(issued),
                    state=AutoCharge.State.SCHEDULED,
                    next_attempt_at__lte=now,
                )
                .order_by("account_id", "invoice__issue_date", "invoice_id")
                .values_list("account_id", "pk")
            ):
                due.setdefault(account_id, []).append(charge_id)
            for account_id in batch:
                if account_id not in issued:
                    continue
                run = result.runs[account_id] = AccountRun(account_id, issued[account_id])
                if account_id in due:
                    pool.submit(account_id, _charges_of(run, due[account_id], now))
            # The answers in so far, recorded together while the next batch is issued.
            _record_answers(answers, now=now, failed=failed, errors=errors)
    _record_answers(answers, now=now, failed=failed, errors=errors)
    if answers.started:
        for charge in AutoCharge.objects.filter(pk__in=answers.started).select_related("invoice"):
            if charge.account_id in result.runs:
                result.runs[charge.account_id].charges.append(charge)
    failed.update(pool.failed)
    errors.extend(pool.errors)
    with_fees = set(
        overdue_invoices(day)
        .filter(account_id__in=[a for a in result.runs if a not in failed])
        .values_list("account_id", flat=True)
    )
    for account_id in sorted(with_fees):
        try:
            result.runs[account_id].late_fees = late_fees_account(account_id=account_id, day=day)
        except Exception as error:
            logger.exception("The late fees of account %s on %s failed.", account_id, day)
            failed.add(account_id)
            errors.append(error)
    result.failed = [a for a in ids if a in failed]
    for account_id in result.failed:
        result.runs.pop(account_id, None)
    return result


def _issue_batch(
    batch: list[int],
    *,
    day: date,
    now: datetime,
    failed: set[int],
    errors: list[Exception],
    together: bool,
) -> tuple[dict[int, list[Invoice]], list[StartedCharge]]:
    """Issue the batch's invoices, schedule their charges and record the first charge of
    each (committed before any is sent), together; if that fails, one account at a time
    (their charges then made as any due charge is). Returns what each account that did not
    fail was issued, and the charges started."""
    try:
        with transaction.atomic():
            results = recurring_run_accounts(account_ids=batch, day=day)
            issued = {a: [*r.new, *r.recurring] for a, r in results.items()}
            every = [i for invoices in issued.values() for i in invoices]
            scheduled = _schedule_charges(every, now)
            started = (
                autocharges_start_together(scheduled, invoices={i.pk: i for i in every}, now=now)
                if together
                else []
            )
    except Exception:
        logger.exception("Issuing %d accounts together failed; one at a time now.", len(batch))
    else:
        return issued, started
    issued = {}
    for account_id in batch:
        try:
            with transaction.atomic():
                account = account_lock(account_id)
                result = recurring_run_account(account=account, day=day)
                issued[account_id] = [*result.new, *result.recurring]
                _schedule_charges(issued[account_id], now)
        except Exception as error:
            # What it still owes stays due and the next run picks it up.
            logger.exception("Billing run for account %s on %s failed.", account_id, day)
            failed.add(account_id)
            errors.append(error)
    return issued, []


@dataclass
class _Answers:
    """The gateway's answers to started charges, as the pool's threads get them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: list[tuple[StartedCharge, GatewayResult]] = field(default_factory=list)
    started: list[int] = field(default_factory=list)  # their automatic charges


def _send(started: StartedCharge, answers: _Answers) -> Callable[[], None]:
    def send() -> None:
        with answers.lock:
            answers.started.append(started.autocharge_id)
        result = autocharge_send(started)
        if result is not None:  # else unknown: settled by asking, as any lost answer
            with answers.lock:
                answers.waiting.append((started, result))

    return send


def _record_answers(
    answers: _Answers, *, now: datetime, failed: set[int], errors: list[Exception]
) -> None:
    with answers.lock:
        waiting, answers.waiting = answers.waiting, []
    if not waiting:
        return
    try:
        autocharges_record_outcomes(waiting, now=now)
    except Exception as error:
        # Left as they are (processing): the settler asks the gateway about each.
        logger.exception("Recording %d charges' answers failed.", len(waiting))
        failed.update(started.account_id for started, _result in waiting)
        errors.append(error)


def _charges_of(run: AccountRun, charge_ids: list[int], now: datetime) -> Callable[[], None]:
    def charge() -> None:
        # An account's charges one after the other, oldest invoice first.
        for charge_id in charge_ids:
            run.charges.append(autocharge_attempt(autocharge_id=charge_id, now=now))

    return charge


_in_flight = 0
_in_flight_lock = threading.Lock()


def charges_in_flight() -> int:
    """The automatic charges this process is making now (for the metrics)."""
    return _in_flight


class ChargePool:
    """Up to `size` threads making the charges submitted, each with its own database
    connection (Django's are per thread), closed when the thread ends: the pool lives for a
    chunk, inside a Celery prefork process as anywhere.

    Inside a transaction (a caller's, or a test's) or with a size of 1, each job runs at
    once in the caller's thread instead: other threads' connections could not see what the
    transaction wrote, and no gateway call may wait inside a transaction anyway."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.inline = size <= 1 or transaction.get_connection().in_atomic_block
        self.failed: set[int] = set()
        self.errors: list[Exception] = []
        self._jobs: queue.Queue[tuple[int, Callable[[], None]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __enter__(self) -> ChargePool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for _thread in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()

    def submit(self, key: int, job: Callable[[], None]) -> None:
        """Run `job` (the charges of account `key`); if it raises, `key` is failed."""
        if self.inline:
            self._run(key, job)
            return
        self._jobs.put((key, job))
        if len(self._threads) < self.size:
            thread = threading.Thread(
                target=self._work, name=f"charges-{len(self._threads) + 1}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run(self, key: int, job: Callable[[], None]) -> None:
        global _in_flight
        with _in_flight_lock:
            _in_flight += 1
        try:
            job()
        except Exception as error:
            logger.exception("The charges of account %s failed.", key)
            with self._lock:
                self.failed.add(key)
                self.errors.append(error)
        finally:
            with _in_flight_lock:
                _in_flight -= 1

    def _work(self) -> None:
        try:
            while (item := self._jobs.get()) is not None:
                self._run(*item)
        finally:
            connections.close_all()


def billing_run(
    *, day: date, now: datetime, progress: Callable[[AccountRun, int], object] | None = None
) -> list[AccountRun]:
    """The whole day in this process (what `run_billing` does by hand), chunk by chunk;
    `progress(run, total)` is called for each account done (the command's progress bar)."""
    payment_methods_expire(today=day)
    account_ids = billing_accounts(day=day, now=now)
    runs: list[AccountRun] = []
    for chunk in chunks(account_ids, settings.BILLING_CHUNK_SIZE):
        done = billing_run_chunk(account_ids=chunk, day=day, now=now)
        if done.errors:
            # By hand, the first error stops the run (the rest is done by the next one).
            raise done.errors[0]
        for account_id in chunk:
            if account_id in done.runs:
                runs.append(done.runs[account_id])
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
