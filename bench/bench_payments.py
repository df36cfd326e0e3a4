"""One-time card payments through the service, on PostgreSQL with the sandbox gateway.

Run it with `make bench`, or on its own from the repository's root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        python3 -m uv run --frozen python -m bench.bench_payments

What it measures

`payments.one_time.payment_pay_by_card`, called in-process the way the pay-by-card view
calls it: the card-testing check, the account's row lock, the Processing payment and its
gateway attempt, the sandbox charge (the sandbox processor writes to the same database, as a
real gateway would answer over the network), then the outcome, the amount applied to the
oldest open invoice and the receipt written to the outbox. No HTTP, no template: the service
only.

What it does

1. Data. A database of its own beside DATABASE_URL's, `<name>_payments` (portal_bench_payments
   by default; the name must contain "bench"), dropped, created and migrated on every run, so
   that every balance starts known. Two accounts, one per scenario, each with an owner and
   200 One-time invoices of 50.00 USD issued through `invoice_issue_one_time` (10,000.00
   owed). The sandbox's card fields turn 4242 4242 4242 4242 into one single-use token per
   payment beforehand: tokenizing is the card fields' work, not the portal's.
2. Sequential. One client pays 300 payments of 1.25 USD one after the other on its account,
   after one warm-up payment. Every payment's SQL statements are counted.
3. Concurrent. 8 clients, each a process of its own (spawned) with its own database
   connection, as gunicorn's sync workers would be, set up, pay one warm-up payment each,
   wait at a barrier and then pay 60 payments of 1.25 USD each on ONE account, all at the
   same moment. The account's row lock (`select_for_update`) serialises the part of each
   payment that reads and changes the balance; the measure is whether throughput holds up
   while they queue for it. Processes, because most of a payment is Python (see CPU below):
   threads would queue for the GIL as well as for the lock, and measure the GIL.
   `--threads` runs the clients as threads of this process instead, for comparison.
4. Checks, after each scenario: what the account owes (`amount_owed`) is the starting balance
   less the sum of its payments, exactly; every payment is Succeeded and fully applied; the
   sandbox recorded exactly one charge per payment; `find_balance_mismatches()` finds nothing.
   A failed check is a failure of the run (exit 1), not a missed aim.

Tasks never run. Invoices enqueue a PDF render and an email after their commit, and every
payment a receipt email; in-process (eager) those would render WeasyPrint PDFs during setup
and write mail files during the timed payments, work a Celery worker does in production. So
the benchmark sets CELERY_TASK_ALWAYS_EAGER=0 without REDIS_URL: tasks go to Celery's
in-memory broker, which nothing consumes, while the outbox rows are written as usual.
CARD_DECLINES_PER_HOUR and CARD_DISTINCT_PER_HOUR are raised so that the card-testing limits
never refuse.

How to read the output

- payments/s: timed payments over the wall time from the first timed payment's start to the
  last one's end (for the clients: from the barrier that releases them together).
- median ms, p95 ms: the wall time of one `payment_pay_by_card` call, seen by its caller;
  under concurrency it includes the wait for the account's lock.
- concurrent / sequential: the throughput ratio. Below 1 is the price of queueing for one
  account (lock waits, CPU shared with the other clients and PostgreSQL); far below 1 would
  be a collapse.
- CPU: the share of the sequential run's wall time this process spent on the CPU, the
  Python part of a payment (the rest is mostly waiting for PostgreSQL). Threads in one
  process share that part through the GIL; hence processes for the clients.
- SQL statements per payment: every statement sent through the connection's cursors
  (savepoints and row locks included; BEGIN and COMMIT are not statements here), for the
  first payment on the account (the warm-up), the 100th, and the range over all of them.

`--payments` and `--per-client` shorten or lengthen the run, `--clients` changes the number
of clients. Timings vary with the machine: compare runs on the same machine only.

The aims after the table come from the issue that asked for this benchmark. A MISS is a
result, not a failure: the script exits 0 unless something broke (non-zero then).
"""

from __future__ import annotations

import argparse
import multiprocessing
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from bench.harness.common import (
    BenchError,
    argument_parser,
    bench_environment,
    migrate,
    own_database_url,
    percentile,
    print_aims,
    recreate_database,
    run_main,
    setup_django,
    use_environment,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from multiprocessing.synchronize import Barrier

    from accounts.models import Account, User

# The data.
INVOICES = 200
INVOICE_AMOUNT = Decimal("50.00")
PAYMENT_AMOUNT = Decimal("1.25")  # divides 50.00: each payment pays part of one invoice
CURRENCY = "USD"
CARD_NUMBER = "4242424242424242"

# The load.
SEQUENTIAL_PAYMENTS = 300
CLIENTS = 8
PAYMENTS_PER_CLIENT = 60
CLIENT_TIMEOUT = 600.0  # seconds for the whole concurrent scenario

# The aims of the issue.
MIN_SEQUENTIAL_PER_SECOND = 20.0
MIN_CONCURRENT_SHARE = 0.8
SQL_SAMPLE = 100  # the payment whose statements are compared with the first's


# Environment and database -----------------------------------------------------------------


def payments_database_url(url: str) -> tuple[str, str]:
    """The URL and name of this benchmark's database: DATABASE_URL's name + "_payments"."""
    return own_database_url(url, "_payments")


# The data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Subject:
    """An account to pay on, its paying user, and one unused token per payment."""

    account_id: int
    user_id: int
    tokens: tuple[str, ...]


def make_account(label: str) -> tuple[Account, User]:
    """An account with an owner and INVOICES open invoices of INVOICE_AMOUNT, oldest first."""
    from accounts.models import Account, Membership, User
    from invoices.services import ItemSpec, invoice_issue_one_time

    account = Account.objects.create(
        company_name=f"Benchmark Payments {label}",
        address_line1="1 Benchmark Way",
        city="Dallas",
        region="TX",
        postal_code="75201",
        country="US",
        currency=CURRENCY,
        billing_day=1,
    )
    user = User.objects.create_user(f"bench-payments-{label}@example.com", None)
    Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    first = date.today() - timedelta(days=INVOICES)
    for number in range(INVOICES):
        invoice_issue_one_time(
            account=account,
            items=[
                ItemSpec(description=f"Benchmark service {number + 1}", unit_price=INVOICE_AMOUNT)
            ],
            issue_date=first + timedelta(days=number),
        )
    return account, user


def make_tokens(count: int) -> list[str]:
    """`count` single-use sandbox tokens of the test card that always succeeds."""
    from django.db import transaction
    from django.utils import timezone

    from sandbox_gateway import processor

    today = timezone.localdate()
    tokens = []
    with transaction.atomic():
        for _ in range(count):
            card, errors = processor.tokenize(
                number=CARD_NUMBER,
                exp_month="12",
                exp_year=str(today.year + 2),
                cvc="123",
                holder="Bench",
                today=today,
            )
            if card is None:
                raise BenchError(f"The sandbox refused the test card: {errors}")
            tokens.append(card.token)
    return tokens


# Paying -------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one client did: each payment's latency, its id, and the timed span."""

    latencies: list[float] = field(default_factory=list)
    payment_ids: list[int] = field(default_factory=list)
    statements: list[int] = field(default_factory=list)  # per payment, when counted
    started: float = 0.0
    finished: float = 0.0
    cpu_seconds: float = 0.0  # this process's, over the timed span


@contextmanager
def counting_statements(counter: list[int]) -> Iterator[None]:
    """Count every SQL statement the connection executes, into counter[0]."""
    from django.db import connection

    def count(execute: Callable[..., Any], *args: Any) -> Any:
        counter[0] += 1
        return execute(*args)

    with connection.execute_wrapper(count):
        yield


def pay(account: Account, user: User, token: str) -> int:
    """One payment through the service; its id. BenchError unless it succeeded."""
    from payments.card_checks import BillingAddress
    from payments.core import new_key
    from payments.models import Payment
    from payments.one_time import payment_pay_by_card

    payment = payment_pay_by_card(
        account=account,
        by=user,
        token=token,
        amount=PAYMENT_AMOUNT,
        currency=CURRENCY,
        key=new_key(),
        address=BillingAddress.of_account(account),
    )
    if payment.state != Payment.State.SUCCEEDED:
        raise BenchError(f"Payment {payment.pk} is {payment.state}, not succeeded.")
    return payment.pk


def pay_all(
    subject: Subject, *, warmups: int, count_statements: bool, start: Callable[[], object]
) -> Run:
    """Pay with every token of `subject`, the first `warmups` untimed; then `start()`s the
    timed part (a barrier for the concurrent clients) and pays the rest one by one."""
    from accounts.models import Account, User

    account = Account.objects.get(pk=subject.account_id)
    user = User.objects.get(pk=subject.user_id)
    run = Run()

    def one(token: str) -> None:
        counter = [0]
        if count_statements:
            with counting_statements(counter):
                run.payment_ids.append(pay(account, user, token))
            run.statements.append(counter[0])
        else:
            run.payment_ids.append(pay(account, user, token))

    for token in subject.tokens[:warmups]:
        one(token)
    start()
    cpu = time.process_time()
    run.started = time.perf_counter()
    for token in subject.tokens[warmups:]:
        sent = time.perf_counter()
        one(token)
        run.latencies.append(time.perf_counter() - sent)
    run.finished = time.perf_counter()
    run.cpu_seconds = time.process_time() - cpu
    return run


def _client(
    subject: Subject,
    barrier: threading.Barrier | Barrier,
    results: queue.Queue[tuple[str, Any]] | multiprocessing.Queue[tuple[str, Any]],
    own_process: bool,
) -> None:
    """One concurrent client, a process or a thread; puts ("ok", Run) or ("error", text)."""
    try:
        if own_process:
            setup_django()
        from django.db import connections

        try:
            run = pay_all(subject, warmups=1, count_statements=False, start=barrier.wait)
        finally:
            connections.close_all()  # this process's or this thread's connection
        results.put(("ok", run))
    except BaseException:
        barrier.abort()  # the others must not wait at the barrier for a client that is gone
        results.put(("error", traceback.format_exc()))


def run_concurrent(subjects: Sequence[Subject], *, threads: bool) -> tuple[list[Run], float]:
    """The clients at once, released together by a barrier; their runs and the wall time
    from the first one's start to the last one's end."""
    workers: Sequence[BaseProcess | threading.Thread]
    results: queue.Queue[tuple[str, Any]] | multiprocessing.Queue[tuple[str, Any]]
    if threads:
        barrier: threading.Barrier | Barrier = threading.Barrier(len(subjects))
        results = queue.Queue()
        workers = [
            threading.Thread(target=_client, args=(subject, barrier, results, False))
            for subject in subjects
        ]
    else:
        context = multiprocessing.get_context("spawn")
        barrier = context.Barrier(len(subjects))
        results = context.Queue()
        workers = [
            context.Process(target=_client, args=(subject, barrier, results, True))
            for subject in subjects
        ]
    for worker in workers:
        worker.start()
    runs: list[Run] = []
    errors: list[str] = []
    deadline = time.monotonic() + CLIENT_TIMEOUT
    try:
        while len(runs) + len(errors) < len(subjects):
            try:
                status, value = results.get(timeout=1.0)
            except queue.Empty:
                # A process that died before it could answer (at import, say) never will.
                crashed = [w for w in workers if isinstance(w, BaseProcess) and w.exitcode]
                if crashed or time.monotonic() > deadline:
                    barrier.abort()
                    raise BenchError(
                        "A client exited without an answer."
                        if crashed
                        else f"The clients did not finish within {CLIENT_TIMEOUT:.0f} s."
                    ) from None
                continue
            (runs if status == "ok" else errors).append(value)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if isinstance(worker, BaseProcess) and worker.is_alive():
                worker.terminate()
    if errors:
        raise BenchError("A client failed:\n" + "\n".join(errors))
    # perf_counter is CLOCK_MONOTONIC on Linux, one clock for every process.
    return runs, max(run.finished for run in runs) - min(run.started for run in runs)


# Checks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Before:
    owed: Decimal
    charges: int


def snapshot(account_id: int) -> Before:
    from accounts.models import Account
    from payments.selectors import amount_owed
    from sandbox_gateway.models import SandboxRequest

    account = Account.objects.get(pk=account_id)
    return Before(
        owed=amount_owed(account, CURRENCY),
        charges=SandboxRequest.objects.filter(kind="charge").count(),
    )


def check(account_id: int, before: Before, payment_ids: Sequence[int]) -> list[str]:
    """What is wrong with the account after `payment_ids` were paid on it; [] when exact."""
    from django.db.models import Sum

    from accounts.models import Account
    from invoices.balances import find_balance_mismatches
    from payments.models import Payment
    from payments.selectors import amount_owed, payment_applied
    from sandbox_gateway.models import SandboxRequest

    account = Account.objects.get(pk=account_id)
    problems: list[str] = []
    on_account = Payment.objects.filter(account=account)
    found = set(on_account.values_list("pk", flat=True))
    if found != set(payment_ids) or len(found) != len(payment_ids):
        problems.append(f"{len(payment_ids)} payments were made, the account has {len(found)}.")
    not_succeeded = on_account.exclude(state=Payment.State.SUCCEEDED).count()
    if not_succeeded:
        problems.append(f"{not_succeeded} payments did not succeed.")
    paid = on_account.filter(state=Payment.State.SUCCEEDED).aggregate(total=Sum("amount"))[
        "total"
    ] or Decimal(0)
    if paid != PAYMENT_AMOUNT * len(payment_ids):
        expected = PAYMENT_AMOUNT * len(payment_ids)
        problems.append(f"The succeeded payments add up to {paid}, not {expected}.")
    owed = amount_owed(account, CURRENCY)
    if owed != before.owed - paid:
        problems.append(f"The account owes {owed}, not {before.owed} - {paid}.")
    unapplied = [p.pk for p in on_account if payment_applied(p) != p.amount]
    if unapplied:
        problems.append(f"{len(unapplied)} payments are not fully applied ({unapplied[:5]}…).")
    charges = SandboxRequest.objects.filter(kind="charge").count() - before.charges
    if charges != len(payment_ids):
        problems.append(f"The sandbox recorded {charges} charges for {len(payment_ids)} payments.")
    problems.extend(str(mismatch) for mismatch in find_balance_mismatches())
    return problems


# The report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    label: str
    payments: int
    per_second: float
    median_ms: float
    p95_ms: float


def row(label: str, latencies: Sequence[float], wall: float) -> Row:
    return Row(
        label=label,
        payments=len(latencies),
        per_second=len(latencies) / wall,
        median_ms=percentile(latencies, 0.5) * 1000,
        p95_ms=percentile(latencies, 0.95) * 1000,
    )


def report(
    sequential: Row, concurrent: Row, cpu_share: float, statements: Sequence[int], clients_in: str
) -> None:
    width = max(len(sequential.label), len(concurrent.label))
    header = f"{'scenario':<{width}}  {'payments':>8}  {'payments/s':>10}"
    print(f"{header}  {'median ms':>9}  {'p95 ms':>7}")
    for r in (sequential, concurrent):
        print(
            f"{r.label:<{width}}  {r.payments:>8}  {r.per_second:>10.1f}  {r.median_ms:>9.1f}"
            f"  {r.p95_ms:>7.1f}"
        )
    ratio = concurrent.per_second / sequential.per_second
    print(f"\nconcurrent / sequential: {ratio:.3f}x (clients as {clients_in})")
    print(
        f"CPU: {cpu_share:.0%} of the sequential run's wall time in this process, "
        f"about {cpu_share * sequential.median_ms:.0f} ms of a median payment"
    )

    sample = min(SQL_SAMPLE, len(statements))
    first, later = statements[0], statements[sample - 1]
    print(
        f"SQL statements per payment: {first} for the 1st on the account, {later} for the"
        f" {_ordinal(sample)}; {min(statements)}–{max(statements)} over all {len(statements)}"
    )

    aims: list[tuple[bool, str]] = [
        (
            sequential.per_second >= MIN_SEQUENTIAL_PER_SECOND,
            f"sequential: at least {MIN_SEQUENTIAL_PER_SECOND:.0f} payments/s"
            f" ({sequential.per_second:.2f})",
        ),
        (
            ratio >= MIN_CONCURRENT_SHARE,
            f"{concurrent.label}: at least {MIN_CONCURRENT_SHARE}x the sequential throughput"
            f" ({ratio:.3f}x)",
        ),
        (
            first == later,
            f"SQL statements per payment constant on an account with {INVOICES} invoices"
            f" (1st: {first}, {_ordinal(sample)}: {later})",
        ),
    ]
    print_aims(aims)


def _ordinal(number: int) -> str:
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


# Main ---------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--payments", type=int, default=SEQUENTIAL_PAYMENTS, help="timed sequential payments"
    )
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent clients")
    parser.add_argument(
        "--per-client", type=int, default=PAYMENTS_PER_CLIENT, help="timed payments per client"
    )
    parser.add_argument(
        "--threads", action="store_true", help="run the clients as threads, not processes"
    )
    arguments = parser.parse_args(argv)
    if min(arguments.payments, arguments.clients, arguments.per_client) < 1:
        parser.error("--payments, --clients and --per-client must be at least 1")
    most = INVOICES * INVOICE_AMOUNT / PAYMENT_AMOUNT
    if max(arguments.payments + 1, arguments.clients * (arguments.per_client + 1)) > most:
        parser.error(f"an account's {INVOICES} invoices pay for at most {most:.0f} payments")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.perf_counter()
    env = bench_environment()
    url, name = payments_database_url(env["DATABASE_URL"])
    env.update(
        {
            "DATABASE_URL": url,
            # Enqueued tasks go to the in-memory broker and never run (see the docstring).
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "CARD_DECLINES_PER_HOUR": "1000000",
            "CARD_DISTINCT_PER_HOUR": "1000000",
        }
    )
    use_environment(env)
    recreate_database(url, name)
    setup_django()
    migrate()

    clients_in = "threads" if arguments.threads else "processes"
    print(
        f"Setting up {name}: 2 accounts of {INVOICES} invoices of {INVOICE_AMOUNT} {CURRENCY},"
        f" {arguments.payments + 1 + arguments.clients * (arguments.per_client + 1)} tokens…",
        flush=True,
    )
    alone, alone_user = make_account("sequential")
    shared, shared_user = make_account("concurrent")
    sequential_subject = Subject(
        alone.pk, alone_user.pk, tuple(make_tokens(arguments.payments + 1))
    )
    client_subjects = [
        Subject(shared.pk, shared_user.pk, tuple(make_tokens(arguments.per_client + 1)))
        for _ in range(arguments.clients)
    ]

    print(f"Sequential: 1 client, {arguments.payments} payments…", flush=True)
    before = snapshot(alone.pk)
    run = pay_all(sequential_subject, warmups=1, count_statements=True, start=lambda: None)
    sequential = row("1 client, one after the other", run.latencies, run.finished - run.started)
    if problems := check(alone.pk, before, run.payment_ids):
        raise BenchError("Sequential payments are not exact:\n  " + "\n  ".join(problems))

    print(
        f"Concurrent: {arguments.clients} clients ({clients_in}) × {arguments.per_client}"
        " payments on one account…",
        flush=True,
    )
    before = snapshot(shared.pk)
    runs, wall = run_concurrent(client_subjects, threads=arguments.threads)
    concurrent = row(
        f"{arguments.clients} clients at once, one account",
        [latency for r in runs for latency in r.latencies],
        wall,
    )
    if problems := check(shared.pk, before, [pk for r in runs for pk in r.payment_ids]):
        raise BenchError("Concurrent payments are not exact:\n  " + "\n  ".join(problems))

    print(
        f"\nOne-time card payments of {PAYMENT_AMOUNT} {CURRENCY}, sandbox gateway, on accounts"
        f" of {INVOICES} open invoices of {INVOICE_AMOUNT} {CURRENCY}. Exact after each"
        " scenario: balance, states, one sandbox charge per payment, no balance mismatch.\n"
    )
    cpu_share = run.cpu_seconds / (run.finished - run.started)
    report(sequential, concurrent, cpu_share, run.statements, clients_in)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
