"""The day's billing run with real Celery workers on Redis, and the invoice PDFs it leaves.

Run it with `make bench`, or on its own from the repository's root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        python3 -m uv run --frozen python -m bench.bench_billing_run [--accounts 500]

What it measures

`billing.tasks.billing_run_task` for one billing day, as the beat schedule starts it: the
expired cards marked, the accounts with something to do handed to the workers in chunks of
BILLING_CHUNK_SIZE (1,000 unless set), and for each chunk (`billing_run_chunk`) the New
invoice of each account's three recurring charges issued, its automatic charge created, the
monthly card charged through the sandbox gateway (BILLING_CHARGE_CONCURRENCY charges in
flight per process), the payment applied to the invoice and the invoice email and the
receipt written to the outbox.

What it does

1. Data. A database of its own beside DATABASE_URL's, `<name>_billing` (portal_bench_billing
   by default; the name must contain "bench"), dropped, created and migrated on every run,
   gets 10,000 accounts (`--accounts`) written in bulk: each with an owner, a verified monthly
   Visa whose credential the sandbox processor knows (a card that always succeeds) and three
   recurring charges of 33.00 USD a month together that start on the billing day, 2026-10-01
   (billing day 1), so that the day issues one New invoice of a whole month per account. A
   copy is kept as a template, `<name>_billing_template`, so that every run starts from the
   same data (CREATE DATABASE … TEMPLATE takes seconds).
2. The run, with 1 and then with 2 worker processes. A real Celery worker (`celery worker`,
   prefork pool as in production, `--concurrency 1`, then `2`) runs on a Redis database of
   its own (`--redis`, db 5 by default; the benchmark flushes that database, never db 0,
   the test suite's). Once it answers a ping, the benchmark enqueues `billing_run_task` for
   the day and polls the database until every account has a succeeded payment: that span is
   the measurement. Between the two runs the database is created again from the template.
   Then a third run by 2 processes at a real processor's pace: the sandbox answering after
   SANDBOX_LATENCY=lognormal:median=400ms,p99=3s, under GATEWAY_MAX_REQUESTS_PER_SECOND=80
   (the token bucket in the benchmark's Redis database); the busiest second is counted from
   the moments the charges reached the sandbox processor (`SandboxRequest.received_at`). For
   each run, the CPU time of the worker's processes (from /proc: the portal's code;
   PostgreSQL's and Redis's own CPU are not in it) per account.
3. A second run of the same day, by the 2 workers: it must hand out no account and issue,
   charge and write nothing.
4. SQL statements per account. In this process, `billing_run_chunk` for a chunk of 20 and
   then one of 200 more accounts (created with the others, their charges start the next day,
   2026-10-02, so the timed runs leave them alone), its charges on threads as in a worker,
   every statement counted on every thread's connection; the sandbox processor's own statements
   (a real processor's are across the network) are shown apart.
5. PDFs. The render task of 100 invoices of the run (`--pdf-invoices`; each task stores the
   PDF in both languages, so 200 PDFs) with a worker of 2 processes consuming only the PDF
   queue, against a bare WeasyPrint process pool (2 processes, spawned, no Django) rendering
   the same HTML (`invoice_pdf_html`) in memory. Two rounds of half the invoices each, in the
   order bare, portal, portal, bare, so that a drift of the machine touches both alike; each
   round starts a fresh worker or pool and first renders 2 warm-up invoices (fonts, imports)
   that are not counted.

Which queue what goes to. Issuing a batch of invoices enqueues one task for their PDF
renders (`invoices.invoices_documents_render`, which the PDF worker fans out to one
`invoices.invoice_documents_render` each) and one for their emails, and recording the
batch's payments one for the receipts (`accounts.emails_send`, fanned out to one
`accounts.email_send` each), all after the commit, on the portal's `pdfs` and `emails`
queues (`CELERY_TASK_ROUTES`). In production other workers render and send them;
here the accounts per second are the billing work only, as the issue asks (the PDFs are
measured on their own): the billing workers consume the `money` queue only (`-Q money`). The
tasks pile up there; the benchmark counts what they are for (a render for each invoice, two
emails for each account, one being the receipt) and flushes them with the database.

Exact after each run, or the run fails (exit 1): every account has one New invoice of
33.00 USD, paid, one succeeded payment of 33.00 USD applied to it, one sandbox charge, its
automatic charge succeeded, the invoice email and the receipt in the outbox and their send
tasks queued, the invoice's render task queued; the charges are invoiced through the next
billing day; `find_balance_mismatches()` finds nothing.

How to read the output

- accounts/s: accounts over the wall time from enqueuing the run to the moment the last
  account's payment is seen succeeded (the database is asked every 0.1 s near the end, less
  often before: `Progress`).
- speed-up: the 2-process rate over the 1-process rate. This machine has 2 cores, which the
  worker processes share with PostgreSQL (and, a little, with this process's polling).
- in-process: the SQL sample's accounts one after the other in this process, no Celery, for
  comparison with a single worker process.
- SQL statements per account: every statement sent through the connection's cursors
  (savepoints and row locks included; BEGIN and COMMIT are not statements here), by kind and
  by table for one account.
- PDFs/s: stored PDFs over the wall time from enqueuing the render tasks to the last one
  stored (the portal), or from releasing the warm pool to its last PDF (bare WeasyPrint),
  both rounds added up.

Timings vary with the machine: compare runs on the same machine only. `--accounts 500` makes
a short run (about a minute and a half without the PDFs). On the 2-core machine of the issue
the full run of 10,000 accounts takes about 7 minutes without the PDFs (the run at a real
processor's pace alone takes 2.5), and 10 with them.

The aims after the table come from the issue that asked for this benchmark. A MISS is a
result, not a failure: the script exits 0 unless something broke (non-zero then).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bench.harness import common as harness
from bench.harness.common import (
    ROOT,
    BenchError,
    ChildProcess,
    argument_parser,
    bench_environment,
    child_process,
    drop_database,
    migrate,
    own_database_url,
    print_aims,
    recreate_database,
    run_main,
    use_environment,
)

if TYPE_CHECKING:
    from multiprocessing.synchronize import Barrier

    from redis import Redis

# The data.
ACCOUNTS = 10_000
BILLING_DAY = date(2026, 10, 1)
SAMPLE_DAY = date(2026, 10, 2)  # the SQL sample's accounts start the day after
NEXT_BILLING_DAY = date(2026, 11, 1)
CURRENCY = "USD"
# (description, category, monthly price): one New invoice of a whole month, 33.00 USD.
CHARGES = (
    ("Cloud Server (2 vCPU, 4 GB)", "Server", Decimal("24.00")),
    ("Managed Backup (100 GB)", "Storage", Decimal("6.00")),
    ("Additional IPv4 address", "Network", Decimal("3.00")),
)
INVOICE_TOTAL = sum((price for _, _, price in CHARGES), Decimal(0))
BATCH = 2_000  # rows per INSERT when writing the data in bulk

# The load.
WORKER_PROCESSES = (1, 2)
# The portal's queues (CELERY_TASK_ROUTES): the run and its chunks, the PDFs, the emails.
BILLING_QUEUE = "money"
PDF_QUEUE = "pdfs"
EMAIL_QUEUE = "emails"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
POLL_SECONDS = 0.1
WORKER_START_TIMEOUT = 60.0
SQL_SAMPLES = (20, 200)
PDF_INVOICES = 100
PDF_WARMUPS = 2
PDF_PROCESSES = 2

# A real processor's pace: its answer times and the requests a second it allows.
LATENCY = "lognormal:median=400ms,p99=3s"
RATE_LIMIT = 80

# The aims of the issue.
MIN_ACCOUNTS_PER_SECOND = 150.0  # with 2 worker processes, no latency
MAX_CPU_MS_PER_ACCOUNT = 15.0
MAX_SQL_PER_ACCOUNT = 25.0
MIN_SPEEDUP = 1.8
MIN_LATENCY_ACCOUNTS_PER_SECOND = 68.0  # with LATENCY and RATE_LIMIT, 2 worker processes
MIN_PDF_SHARE = 0.8

# A real worker, started as `celery worker` is.
WORKER_CODE = """
import sys
from portal.celery import app
app.worker_main(["worker", *sys.argv[1:]])
"""


# Environment and databases ------------------------------------------------------------------


def billing_database_urls(url: str) -> tuple[str, str, str]:
    """This benchmark's database URL and name (DATABASE_URL's name + "_billing"), and the
    name of its template."""
    billing_url, name = own_database_url(url, "_billing")
    return billing_url, name, f"{name}_template"


def redis_client(url: str) -> Redis:
    """The benchmark's Redis database, refused if it is the test suite's (db 0)."""
    import redis

    client = redis.Redis.from_url(url)
    database = int(client.connection_pool.connection_kwargs.get("db") or 0)
    if database == 0:
        raise BenchError(
            f"--redis {url} is Redis db 0, which the test suite uses; the benchmark flushes "
            "its database, so give it another (redis://127.0.0.1:6379/5)."
        )
    try:
        client.ping()
    except redis.ConnectionError as error:
        raise BenchError(f"Cannot reach Redis at {url}: {error}") from error
    return client


def setup_django() -> None:
    """Django with the benchmark's settings, in this process (the parent or a pool process)."""
    harness.setup_django()


# The data -----------------------------------------------------------------------------------


def make_accounts(count: int, *, label: str, starts_on: date) -> list[int]:
    """`count` accounts billed on `starts_on`'s day of the month, each with an owner, a
    verified monthly card the sandbox can charge and CHARGES starting on `starts_on`, written
    in bulk. Returns their ids."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import Account, Membership, User
    from invoices.models import RecurringCharge
    from payments.models import PaymentMethod
    from sandbox_gateway.cards import Scenario
    from sandbox_gateway.models import SandboxCard

    now = timezone.now()
    exp_year = starts_on.year + 3  # far from expiring: the run marks no card expired
    address = {"address_line1": "1 Benchmark Way", "city": "Dallas", "country": "US"}
    with transaction.atomic():
        users = User.objects.bulk_create(
            [
                User(email=f"billing-{label}-{number}@example.com", password="!")  # noqa: S106
                for number in range(count)
            ],
            batch_size=BATCH,
        )
        accounts = Account.objects.bulk_create(
            [
                Account(
                    company_name=f"Billing {label.title()} {number:05d} Ltd",
                    region="TX",
                    postal_code="75201",
                    currency=CURRENCY,
                    billing_day=starts_on.day,
                    **address,
                )
                for number in range(count)
            ],
            batch_size=BATCH,
        )
        Membership.objects.bulk_create(
            [
                Membership(user=user, account=account, role=Membership.Role.OWNER)
                for user, account in zip(users, accounts, strict=True)
            ],
            batch_size=BATCH,
        )
        # What the sandbox keeps of a card verified earlier: its used token and credential.
        cards = SandboxCard.objects.bulk_create(
            [
                SandboxCard(
                    token=f"tok_bench_{label}_{number}",
                    credential=f"card_bench_{label}_{number}",
                    scenario=Scenario.SUCCEEDS,
                    brand="visa",
                    last4="4242",
                    exp_month=12,
                    exp_year=exp_year,
                    holder="Bench",
                    token_used_at=now,
                )
                for number in range(count)
            ],
            batch_size=BATCH,
        )
        PaymentMethod.objects.bulk_create(
            [
                PaymentMethod(
                    account=account,
                    gateway="sandbox",
                    token=card.token,
                    credential=card.credential or "",
                    brand=card.brand,
                    last4=card.last4,
                    exp_month=card.exp_month,
                    exp_year=card.exp_year,
                    holder=card.holder,
                    contact_email=user.email,
                    state=PaymentMethod.State.VERIFIED,
                    is_monthly=True,
                    verification_result="succeeded",
                    created_by=user,
                    decided_at=now,
                    **address,
                )
                for user, account, card in zip(users, accounts, cards, strict=True)
            ],
            batch_size=BATCH,
        )
        RecurringCharge.objects.bulk_create(
            [
                RecurringCharge(
                    account=account,
                    description=description,
                    category=category,
                    resource_label=f"{category.lower()}-{account.pk}.bench.example",
                    unit_price=price,
                    starts_on=starts_on,
                )
                for account in accounts
                for description, category, price in CHARGES
            ],
            batch_size=BATCH,
        )
    return [account.pk for account in accounts]


def analyze() -> None:
    """The planner's statistics of the rows just written, as autovacuum gathers them a while
    after a bulk load (a copy of the database keeps them): without, every run would start
    with plans made for empty tables."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# Workers ------------------------------------------------------------------------------------


@contextmanager
def celery_worker(
    env: dict[str, str], *, processes: int, queue: str, name: str
) -> Iterator[ChildProcess]:
    """A Celery worker (prefork, `processes` child processes) consuming `queue` only, once it
    answers a ping; stopped (warm shutdown: running tasks finish) on the way out."""
    from portal.celery import app

    command = [
        sys.executable,
        "-c",
        WORKER_CODE,
        "--pool=prefork",
        f"--concurrency={processes}",
        f"--queues={queue}",
        f"--hostname={name}@%h",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
    ]
    label = f"The worker of {processes} process{'es' if processes > 1 else ''} on {queue}"
    with child_process(label, command, env, stop_timeout=60) as worker:
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not any(name in str(reply) for reply in app.control.ping(timeout=0.5) or []):
            worker.check()
            if time.monotonic() > deadline:
                raise BenchError(f"{label} did not answer within {WORKER_START_TIMEOUT} s.")
        yield worker


def wait_until(
    done: Callable[[], bool], worker: ChildProcess, *, timeout: float, what: str
) -> float:
    """Poll `done` until it holds; the moment it was first seen to (perf_counter)."""
    deadline = time.monotonic() + timeout
    while not done():
        worker.check()
        if time.monotonic() > deadline:
            raise BenchError(f"{what} did not happen within {timeout:.0f} s.")
        time.sleep(POLL_SECONDS)
    return time.perf_counter()


def wait_idle(worker: ChildProcess, client: Redis, *, timeout: float) -> None:
    """Until the billing queue is empty and the worker runs and holds no task, twice in a row
    (a task that is running holds its message unacknowledged, so a fan-out is seen)."""
    from portal.celery import app

    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2:
        worker.check()
        if time.monotonic() > deadline:
            raise BenchError(f"{worker.name} was still busy after {timeout:.0f} s.")
        inspect = app.control.inspect(timeout=0.5)
        busy = [
            task
            for answer in (inspect.active() or {}, inspect.reserved() or {})
            for tasks in answer.values()
            for task in tasks
        ]
        quiet = quiet + 1 if not busy and not client.llen(BILLING_QUEUE) else 0
        time.sleep(POLL_SECONDS)


# The billing run ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    processes: int
    accounts: int
    seconds: float
    cpu_seconds: float  # of the worker's processes (the portal's code), PostgreSQL apart
    latency: str = ""
    rate_limit: float = 0.0
    busiest_second: int = 0  # charges the processor received in its busiest second
    busiest_window: int = 0  # … in any window of one second, wherever it starts

    @property
    def per_second(self) -> float:
        return self.accounts / self.seconds

    @property
    def cpu_ms_per_account(self) -> float:
        return self.cpu_seconds * 1000 / self.accounts


def cpu_seconds_of_tree(pid: int) -> float:
    """The CPU time (user and system) the process `pid` and its descendants used so far,
    the reaped ones included, from /proc (Linux)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime: fields 14-17 of proc(5), after pid and comm.
            total += sum(int(value) for value in fields[11:15])
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as kids:
                    pending.extend(int(child) for child in kids.read().split())
        except FileNotFoundError:
            continue  # ended meanwhile
    return total / ticks


def processor_pace() -> tuple[int, int]:
    """The charges the sandbox processor received (when they reached it, before it did
    anything) in its busiest calendar second, and in its busiest window of one second
    starting anywhere."""
    from django.db.models.functions import Coalesce

    from sandbox_gateway.models import SandboxRequest

    stamps = sorted(
        moment.timestamp()
        for moment in SandboxRequest.objects.filter(kind="charge")
        .annotate(arrived=Coalesce("received_at", "created_at"))
        .values_list("arrived", flat=True)
    )
    by_second = Counter(int(stamp) for stamp in stamps)
    busiest_window = 0
    start = 0
    for end, stamp in enumerate(stamps):
        while stamps[start] <= stamp - 1.0:
            start += 1
        busiest_window = max(busiest_window, end - start + 1)
    return max(by_second.values(), default=0), busiest_window


def payments_by_state() -> dict[str, int]:
    """How many payments are in each state (one statement: a scan of the table)."""
    from django.db.models import Count

    from payments.models import Payment

    return dict(
        Payment.objects.order_by().values("state").annotate(n=Count("pk")).values_list("state", "n")
    )


class Progress:
    """Whether every account of the run has a succeeded payment, asked of the database at a
    pace that keeps the question cheap: counting the payments scans their table, so the
    question is asked when the run could be done, less often while much is left (at most
    every 2 s), every POLL_SECONDS near the end. Asked every 0.1 s throughout, a run of
    100,000 accounts spent a sixth of a core on it, against the workers (PostgreSQL here
    runs without autovacuum, so the table also holds every row each update left behind)."""

    def __init__(self, accounts: int) -> None:
        self.accounts = accounts
        self.started = time.monotonic()
        self.next_ask = self.started

    def __call__(self) -> bool:
        from payments.models import Payment

        now = time.monotonic()
        if now < self.next_ask:
            return False
        states = payments_by_state()
        if states.get(Payment.State.DECLINED, 0) or states.get(Payment.State.FAILED, 0):
            raise BenchError("A payment of the billing run did not succeed.")
        done = states.get(Payment.State.SUCCEEDED, 0)
        if done >= self.accounts:
            return True
        # A twentieth of the time the rest would take at the pace so far.
        pace = done / max(now - self.started, 1e-3)
        left = (self.accounts - done) / pace if pace else float("inf")
        self.next_ask = now + min(max(left / 20, POLL_SECONDS), 2.0)
        return False


def billing_run(
    env: dict[str, str],
    client: Redis,
    processes: int,
    accounts: int,
    *,
    latency: str = "",
    rate_limit: float = 0.0,
) -> Run:
    """The day's billing by a worker of `processes` processes, timed until every account
    has a succeeded payment; the sandbox answering after `latency`, the processor's
    `rate_limit` shared by the workers."""
    from billing.tasks import billing_run_task

    client.flushdb()
    env = {
        **env,
        "SANDBOX_LATENCY": latency,
        "GATEWAY_MAX_REQUESTS_PER_SECOND": str(rate_limit),
    }
    with celery_worker(
        env, processes=processes, queue=BILLING_QUEUE, name=f"billing-{processes}"
    ) as worker:
        cpu_before = cpu_seconds_of_tree(worker.process.pid)
        started = time.perf_counter()
        billing_run_task.apply_async(args=(BILLING_DAY.isoformat(),), queue=BILLING_QUEUE)

        finished = wait_until(
            Progress(accounts),
            worker,
            timeout=120 + accounts / 5,  # at least 5 accounts a second
            what=f"The billing run of {accounts:,} accounts",
        )
        cpu = cpu_seconds_of_tree(worker.process.pid) - cpu_before
    second, window = processor_pace()
    return Run(
        processes=processes,
        accounts=accounts,
        seconds=finished - started,
        cpu_seconds=cpu,
        latency=latency,
        rate_limit=rate_limit,
        busiest_second=second,
        busiest_window=window,
    )


def check_run(accounts: int, client: Redis) -> list[str]:
    """What is wrong after the day's run over `accounts` accounts; [] when it is exact."""
    from django.db.models import F, Sum

    from accounts.models import OutboundEmail
    from billing.models import AutoCharge
    from invoices.balances import find_balance_mismatches
    from invoices.models import Allocation, Invoice, RecurringCharge
    from payments.models import Payment
    from sandbox_gateway.models import SandboxRequest

    problems: list[str] = []

    def expect(what: str, found: object, expected: object) -> None:
        if found != expected:
            problems.append(f"{what}: {found}, not {expected}.")

    invoices = Invoice.objects.filter(issue_date=BILLING_DAY)
    expect("invoices issued", invoices.count(), accounts)
    expect("accounts with an invoice", invoices.values("account").distinct().count(), accounts)
    expect("New invoices", invoices.filter(type=Invoice.Type.NEW).count(), accounts)
    expect("invoices of another total", invoices.exclude(total=INVOICE_TOTAL).count(), 0)
    expect("invoices not paid", invoices.exclude(state=Invoice.State.PAID).count(), 0)
    payments = Payment.objects.filter(state=Payment.State.SUCCEEDED)
    expect("succeeded payments", payments.count(), accounts)
    expect("accounts with a payment", payments.values("account").distinct().count(), accounts)
    expect("other payments", Payment.objects.exclude(state=Payment.State.SUCCEEDED).count(), 0)
    expect("paid", payments.aggregate(total=Sum("amount"))["total"], INVOICE_TOTAL * accounts)
    applied = Allocation.objects.filter(source=Allocation.Source.PAYMENT)
    expect("amounts applied", applied.count(), accounts)
    expect(
        "payments applied to their automatic charge's invoice",
        payments.filter(allocations__allocation__invoice_id=F("autocharges__invoice_id")).count(),
        accounts,
    )
    expect(
        "sandbox charges",
        SandboxRequest.objects.filter(kind="charge", outcome="succeeded").count(),
        accounts,
    )
    expect(
        "automatic charges succeeded",
        AutoCharge.objects.filter(state=AutoCharge.State.SUCCEEDED).count(),
        accounts,
    )
    expect("automatic charges", AutoCharge.objects.count(), accounts)
    expect(
        "recurring charges invoiced through the next billing day",
        RecurringCharge.objects.filter(invoiced_through=NEXT_BILLING_DAY).count(),
        accounts * len(CHARGES),
    )
    emails = OutboundEmail.objects.all()
    issued = emails.filter(key__startswith="invoices.invoice.issued:").count()
    receipts = emails.filter(key__startswith="payments.payment.receipt:").count()
    expect("invoice emails in the outbox", issued, accounts)
    expect("receipts in the outbox", receipts, accounts)
    expect("other emails in the outbox", emails.count() - issued - receipts, 0)
    renders = queued_ids(
        client, PDF_QUEUE, "invoices.invoice_documents_render", "invoices.invoices_documents_render"
    )
    sends = queued_ids(client, EMAIL_QUEUE, "accounts.email_send", "accounts.emails_send")
    expect("invoices whose render is queued", renders, accounts)
    expect("emails whose send is queued", sends, 2 * accounts)
    problems.extend(str(mismatch) for mismatch in find_balance_mismatches())
    return problems


def queued_ids(client: Redis, queue: str, one: str, many: str) -> int:
    """How many objects the tasks waiting in `queue` are for: a task `one` is for one (its
    first argument), a task `many` for each of its first argument's ids (a batch of the run
    hands its PDFs and emails out that way, and the worker fans them out); another task
    counts as none, so that it shows as a miss."""
    count = 0
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        task = message["headers"]["task"]
        args = json.loads(base64.b64decode(message["body"]))[0]
        count += len(args[0]) if task == many else int(task == one)
    return count


@dataclass(frozen=True)
class Totals:
    """What a run writes, counted (for the second run of the same day)."""

    invoices: int
    payments: int
    charges: int
    emails: int
    autocharges: int
    audit: int


def totals() -> Totals:
    from accounts.models import AuditEntry, OutboundEmail
    from billing.models import AutoCharge
    from invoices.models import Invoice
    from payments.models import Payment
    from sandbox_gateway.models import SandboxRequest

    return Totals(
        invoices=Invoice.objects.count(),
        payments=Payment.objects.count(),
        charges=SandboxRequest.objects.filter(kind="charge").count(),
        emails=OutboundEmail.objects.count(),
        autocharges=AutoCharge.objects.count(),
        audit=AuditEntry.objects.count(),
    )


@dataclass(frozen=True)
class Again:
    handed_out: int
    seconds: float
    before: Totals
    after: Totals
    queued: int  # render and send tasks enqueued by the second run


def run_again(env: dict[str, str], client: Redis) -> Again:
    """The same day once more, by the 2-process worker; nothing may change."""
    from django.utils import timezone

    from billing.run import billing_accounts
    from billing.tasks import billing_run_task

    client.flushdb()
    before = totals()
    handed_out = len(billing_accounts(day=BILLING_DAY, now=timezone.now()))
    with celery_worker(env, processes=2, queue=BILLING_QUEUE, name="billing-again") as worker:
        started = time.perf_counter()
        billing_run_task.apply_async(args=(BILLING_DAY.isoformat(),), queue=BILLING_QUEUE)
        wait_idle(worker, client, timeout=120)
        seconds = time.perf_counter() - started
    return Again(
        handed_out=handed_out,
        seconds=seconds,
        before=before,
        after=totals(),
        queued=client.llen(PDF_QUEUE) + client.llen(EMAIL_QUEUE),
    )


# SQL statements per account -----------------------------------------------------------------


@dataclass(frozen=True)
class Statements:
    per_account: list[float]  # the mean of each sample chunk
    processor_per_account: list[float]  # of those, the sandbox processor's own
    seconds: list[float]  # for each account, the mean of each sample chunk
    kinds: Counter[str]  # of the first chunk
    tables: Counter[str]  # of the first chunk


def classify(sql: str) -> tuple[str, str]:
    """A statement's kind (SELECT, SELECT … FOR UPDATE, INSERT …) and its main table."""
    words = sql.lstrip().split(None, 1)
    kind = words[0].upper() if words else "?"
    if kind == "SELECT" and " FOR UPDATE" in sql.upper():
        kind = "SELECT … FOR UPDATE"
    elif kind in ("RELEASE", "ROLLBACK") or kind == "SAVEPOINT":
        kind = "SAVEPOINT/RELEASE"
    found = re.search(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', sql)
    return kind, found.group(1) if found else ""


def count_statements(samples: Sequence[Sequence[int]], day: date) -> Statements:
    """`billing_run_chunk` for each sample of accounts in this process, as a worker runs it
    (its charges on threads), every statement counted on every thread's connection."""
    from unittest import mock

    from django.db.backends.utils import CursorWrapper
    from django.utils import timezone

    from billing.run import billing_run_chunk

    per_account: list[float] = []
    processor: list[float] = []
    seconds: list[float] = []
    kinds: Counter[str] = Counter()
    tables: Counter[str] = Counter()
    real_execute, real_executemany = CursorWrapper.execute, CursorWrapper.executemany
    for index, account_ids in enumerate(samples):
        seen: list[str] = []

        def execute(self: CursorWrapper, sql: str, *args: Any, seen: list[str] = seen) -> Any:
            seen.append(sql)  # list.append is atomic: the threads share it
            return real_execute(self, sql, *args)

        def executemany(self: CursorWrapper, sql: str, *args: Any, seen: list[str] = seen) -> Any:
            seen.append(sql)
            return real_executemany(self, sql, *args)

        started = time.perf_counter()
        with (
            mock.patch.object(CursorWrapper, "execute", execute),
            mock.patch.object(CursorWrapper, "executemany", executemany),
        ):
            done = billing_run_chunk(account_ids=list(account_ids), day=day, now=timezone.now())
        seconds.append((time.perf_counter() - started) / len(account_ids))
        runs = done.runs.values()
        if done.failed or any(len(r.issued) != 1 or len(r.charges) != 1 for r in runs):
            raise BenchError(f"A sample chunk on {day} did not issue and charge 1 and 1 each.")
        per_account.append(len(seen) / len(account_ids))
        processor.append(
            sum(classify(sql)[1].startswith("sandbox_") for sql in seen) / len(account_ids)
        )
        if index == 0:
            for sql in seen:
                kind, table = classify(sql)
                kinds[kind] += 1
                tables[table or kind] += 1
    return Statements(
        per_account=per_account,
        processor_per_account=processor,
        seconds=seconds,
        kinds=kinds,
        tables=tables,
    )


# PDFs ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pdfs:
    label: str
    pdfs: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.pdfs / self.seconds

    def plus(self, other: Pdfs) -> Pdfs:
        return Pdfs(self.label, self.pdfs + other.pdfs, self.seconds + other.seconds)


def portal_pdfs(
    env: dict[str, str], client: Redis, warmups: Sequence[int], invoice_ids: Sequence[int]
) -> Pdfs:
    """The portal's render task for each invoice, by a worker of PDF_PROCESSES processes."""
    from invoices.models import InvoiceDocument
    from invoices.tasks import invoice_documents_render_task

    languages = len(_languages())

    def stored(ids: Sequence[int]) -> Callable[[], bool]:
        def done() -> bool:
            found = InvoiceDocument.objects.filter(
                invoice_id__in=ids, rendered_at__isnull=False
            ).count()
            return found >= len(ids) * languages

        return done

    client.flushdb()
    with celery_worker(env, processes=PDF_PROCESSES, queue=PDF_QUEUE, name="pdf") as worker:
        for invoice_id in warmups:  # one for each process: fonts and WeasyPrint loaded
            invoice_documents_render_task.apply_async(args=(invoice_id,), queue=PDF_QUEUE)
        wait_until(stored(warmups), worker, timeout=120, what="The warm-up PDFs")
        started = time.perf_counter()
        for invoice_id in invoice_ids:
            invoice_documents_render_task.apply_async(args=(invoice_id,), queue=PDF_QUEUE)
        finished = wait_until(
            stored(invoice_ids),
            worker,
            timeout=120 + len(invoice_ids) * 2,
            what=f"The PDFs of {len(invoice_ids)} invoices",
        )
    return Pdfs(
        label=f"portal: invoice_documents_render_task, Celery worker of {PDF_PROCESSES} processes",
        pdfs=len(invoice_ids) * languages,
        seconds=finished - started,
    )


def _languages() -> list[str]:
    from django.conf import settings

    return [code for code, _name in settings.LANGUAGES]


def _bare_start(warmups: Sequence[str], barrier: Barrier) -> None:
    """A bare pool process: WeasyPrint warmed up on a document of its own, then ready."""
    import weasyprint

    for html in warmups:
        weasyprint.HTML(string=html, base_url=str(ROOT)).write_pdf()
    barrier.wait()


def _bare_render(html: str) -> int:
    import weasyprint

    return len(weasyprint.HTML(string=html, base_url=str(ROOT)).write_pdf())


def bare_pdfs(warmups: Sequence[int], invoice_ids: Sequence[int]) -> Pdfs:
    """The same HTML the render task builds, in every language, rendered in memory by a
    pool of PDF_PROCESSES spawned processes with WeasyPrint and nothing else."""
    from django.db import connections

    from invoices.documents import invoice_pdf_html
    from invoices.models import Invoice

    def html_of(ids: Sequence[int]) -> list[str]:
        invoices = Invoice.objects.in_bulk(list(ids))
        return [invoice_pdf_html(invoices[pk], code) for pk in ids for code in _languages()]

    warmup_html = html_of(warmups)
    documents = html_of(invoice_ids)
    connections.close_all()
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(PDF_PROCESSES + 1)
    with spawn.Pool(
        PDF_PROCESSES,
        initializer=_bare_start,
        # One warm-up invoice per process, as the worker's warm-up tasks.
        initargs=(warmup_html[: len(_languages())], barrier),
    ) as pool:
        barrier.wait(timeout=120)
        started = time.perf_counter()
        sizes = pool.map(_bare_render, documents, chunksize=1)
        seconds = time.perf_counter() - started
    if not all(sizes):
        raise BenchError("Bare WeasyPrint wrote an empty PDF.")
    return Pdfs(
        label=f"bare WeasyPrint: process pool of {PDF_PROCESSES}, same HTML, in memory",
        pdfs=len(documents),
        seconds=seconds,
    )


# The report ---------------------------------------------------------------------------------


def report(
    runs: Sequence[Run],
    paced: Run,
    again: Again,
    statements: Statements,
    samples: tuple[int, int],
    pdfs: tuple[Pdfs, Pdfs] | None,
    chunk_size: int,
    concurrency: int,
) -> None:
    print(
        f"{'worker processes':>16}  {'latency':>30}  {'limit/s':>7}  {'accounts':>8}"
        f"  {'seconds':>8}  {'accounts/s':>10}  {'CPU ms/account':>14}  {'busiest s':>9}"
    )
    for run in (*runs, paced):
        print(
            f"{run.processes:>16}  {run.latency or 'none':>30}  {run.rate_limit or '-':>7}"
            f"  {run.accounts:>8,}  {run.seconds:>8.1f}  {run.per_second:>10.1f}"
            f"  {run.cpu_ms_per_account:>14.1f}  {run.busiest_second:>9}"
        )
    one, two = runs[0], runs[-1]
    speedup = two.per_second / one.per_second
    print(
        f"\nspeed-up from 1 to 2 worker processes: {speedup:.2f}x (chunks of {chunk_size},"
        f" {concurrency} charges in flight per process)"
    )
    print(
        f"with {paced.latency} and a limit of {paced.rate_limit:g} requests/s: the processor"
        f" received at most {paced.busiest_second} charges in a calendar second and"
        f" {paced.busiest_window} in any one-second window"
    )

    first, second = samples
    per_account = statements.per_account
    processor = statements.processor_per_account
    mean = sum(statements.seconds) / len(statements.seconds)
    print(
        f"\nSQL statements per account (in-process, billing_run_chunk, its charges on threads):"
        f" {per_account[0]:.1f} in a chunk of {first}, {per_account[-1]:.1f} in a chunk"
        f" of {second}; of those the sandbox processor's own (a real one is across the"
        f" network): {processor[0]:.1f} and {processor[-1]:.1f};"
        f" {mean * 1000:.1f} ms an account ({1 / mean:.0f} accounts/s in one process, no Celery)"
    )
    kinds = ", ".join(f"{n} {kind}" for kind, n in statements.kinds.most_common())
    tables = ", ".join(f"{table} {n}" for table, n in statements.tables.most_common())
    print(f"  by kind, chunk of {first}: {kinds}")
    print(f"  by table, chunk of {first}: {tables}")

    changed = [
        name
        for name in Totals.__dataclass_fields__
        if getattr(again.before, name) != getattr(again.after, name)
    ]
    written = "changed: " + ", ".join(changed) if changed else "nothing written"
    print(
        f"\nSecond run of {BILLING_DAY}: {again.handed_out} accounts handed out, done in"
        f" {again.seconds:.1f} s; {written}, {again.queued} tasks queued"
    )

    share = 0.0
    if pdfs is not None:
        portal, bare = pdfs
        share = portal.per_second / bare.per_second
        print("\nPDFs (each invoice in every language):")
        for p in (portal, bare):
            print(f"  {p.label}: {p.pdfs} PDFs in {p.seconds:.1f} s, {p.per_second:.1f} PDFs/s")
        print(f"  portal / bare: {share:.2f}")

    cpu_ok = all(run.cpu_ms_per_account <= MAX_CPU_MS_PER_ACCOUNT for run in (two, paced))
    without_processor = ", ".join(
        f"{a - b:.1f}" for a, b in zip(per_account, processor, strict=True)
    )
    aims: list[tuple[bool, str]] = [
        (
            two.per_second >= MIN_ACCOUNTS_PER_SECOND,
            f"{MIN_ACCOUNTS_PER_SECOND:.0f} or more accounts/s with 2 worker processes, no"
            f" latency ({two.per_second:.1f})",
        ),
        (
            cpu_ok,
            f"{MAX_CPU_MS_PER_ACCOUNT:.0f} ms or less of the workers' CPU per account, 2 worker"
            f" processes ({two.cpu_ms_per_account:.1f} without latency,"
            f" {paced.cpu_ms_per_account:.1f} with)",
        ),
        (
            max(per_account) <= MAX_SQL_PER_ACCOUNT,
            f"{MAX_SQL_PER_ACCOUNT:.0f} or fewer SQL statements per account"
            f" ({', '.join(f'{n:.1f}' for n in per_account)}; {without_processor} without the"
            " sandbox processor's own)",
        ),
        (
            speedup >= MIN_SPEEDUP,
            f"{MIN_SPEEDUP}x or more from 1 to 2 worker processes ({speedup:.2f}x)",
        ),
        (
            paced.per_second >= MIN_LATENCY_ACCOUNTS_PER_SECOND,
            f"{MIN_LATENCY_ACCOUNTS_PER_SECOND:.0f} or more accounts/s with {paced.latency} and"
            f" {paced.rate_limit:g} requests/s, 2 worker processes ({paced.per_second:.1f})",
        ),
        (
            paced.busiest_window <= paced.rate_limit,
            f"the processor's limit of {paced.rate_limit:g} requests/s never exceeded (at most"
            f" {paced.busiest_window} in any one-second window)",
        ),
        (
            not changed and not again.handed_out and not again.queued,
            f"a second run of the same day issues and charges nothing ({again.handed_out}"
            f" accounts handed out, {again.after.invoices - again.before.invoices} invoices,"
            f" {again.after.charges - again.before.charges} charges)",
        ),
    ]
    if pdfs is not None:
        aims.append(
            (
                share >= MIN_PDF_SHARE,
                f"PDFs at {MIN_PDF_SHARE:.0%} or more of the bare pool's rate ({share:.0%})",
            )
        )
    print_aims(aims)


def _span(values: Sequence[float]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}–{high}"


def _pdfs(
    env: dict[str, str], client: Redis, run_ids: Sequence[int], pdf_invoices: int
) -> tuple[Pdfs, Pdfs]:
    """The portal's PDFs against bare WeasyPrint's, in two rounds."""
    from invoices.models import Invoice

    invoice_ids = list(
        Invoice.objects.filter(account_id__in=run_ids[: pdf_invoices + 2 * PDF_WARMUPS])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    # Two rounds in the order bare, portal, portal, bare, each with warm-ups of its own
    # (a rendered invoice is not rendered again), so that a drift of the machine (other
    # work on it) touches both sides alike.
    warmups = (invoice_ids[:PDF_WARMUPS], invoice_ids[PDF_WARMUPS : 2 * PDF_WARMUPS])
    measured = invoice_ids[2 * PDF_WARMUPS :]
    halves = (measured[: len(measured) // 2], measured[len(measured) // 2 :])
    print(
        f"PDFs: {len(measured)} invoices in two rounds, bare WeasyPrint and the portal…",
        flush=True,
    )
    bare = bare_pdfs(warmups[0], halves[0])
    portal = portal_pdfs(env, client, warmups[0], halves[0])
    portal = portal.plus(portal_pdfs(env, client, warmups[1], halves[1]))
    bare = bare.plus(bare_pdfs(warmups[1], halves[1]))
    return portal, bare


# Main ---------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--accounts", type=int, default=ACCOUNTS, help="accounts billed by the timed runs"
    )
    parser.add_argument(
        "--pdf-invoices",
        type=int,
        default=PDF_INVOICES,
        help="invoices whose PDFs are rendered (each in every language)",
    )
    parser.add_argument(
        "--no-pdfs", action="store_true", help="leave out the PDFs (the billing figures only)"
    )
    parser.add_argument(
        "--redis",
        default=DEFAULT_REDIS_URL,
        help="the Redis database of the broker; flushed, so never db 0 (the tests')",
    )
    arguments = parser.parse_args(argv)
    if arguments.accounts < 1 or arguments.pdf_invoices < 2:
        parser.error("--accounts must be at least 1 and --pdf-invoices at least 2")
    if arguments.pdf_invoices + 2 * PDF_WARMUPS > arguments.accounts:
        parser.error(f"--pdf-invoices plus {2 * PDF_WARMUPS} warm-ups must not exceed --accounts")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.perf_counter()
    env = bench_environment()
    url, name, template = billing_database_urls(env["DATABASE_URL"])
    with (
        closing(redis_client(arguments.redis)) as client,
        tempfile.TemporaryDirectory(prefix="bench-billing-media-") as media,
    ):
        env.update(
            {
                "DATABASE_URL": url,
                "REDIS_URL": arguments.redis,
                "CELERY_TASK_ALWAYS_EAGER": "0",
                "CARD_DECLINES_PER_HOUR": "1000000",
                "CARD_DISTINCT_PER_HOUR": "1000000",
                "MEDIA_ROOT": media,
            }
        )
        use_environment(env)
        setup_django()
        from django.conf import settings

        recreate_database(url, name)
        migrate()
        accounts = arguments.accounts
        print(
            f"Setting up {name}: {accounts:,} accounts with {len(CHARGES)} recurring charges"
            f" ({INVOICE_TOTAL} {CURRENCY} a month) from {BILLING_DAY} and a monthly card, and"
            f" {sum(SQL_SAMPLES)} accounts for the SQL sample…",
            flush=True,
        )
        setup_started = time.perf_counter()
        run_ids = make_accounts(accounts, label="run", starts_on=BILLING_DAY)
        sample_ids = make_accounts(sum(SQL_SAMPLES), label="sample", starts_on=SAMPLE_DAY)
        analyze()
        print(f"  written in {time.perf_counter() - setup_started:.1f} s", flush=True)
        recreate_database(url, template, template=name)

        try:
            runs: list[Run] = []
            for processes in WORKER_PROCESSES:
                if runs:
                    recreate_database(url, name, template=template)
                print(
                    f"Billing run of {BILLING_DAY}: {accounts:,} accounts, a worker of"
                    f" {processes} process{'es' if processes > 1 else ''}…",
                    flush=True,
                )
                runs.append(billing_run(env, client, processes, accounts))
                if problems := check_run(accounts, client):
                    raise BenchError(
                        f"The run with {processes} worker processes is not exact:\n  "
                        + "\n  ".join(problems)
                    )
            recreate_database(url, name, template=template)
            processes = WORKER_PROCESSES[-1]
            print(
                f"Billing run of {BILLING_DAY}: {accounts:,} accounts, a worker of {processes}"
                f" processes, the sandbox answering after {LATENCY}, {RATE_LIMIT} requests/s…",
                flush=True,
            )
            paced = billing_run(
                env, client, processes, accounts, latency=LATENCY, rate_limit=RATE_LIMIT
            )
            if problems := check_run(accounts, client):
                raise BenchError(
                    "The run with latency and a rate limit is not exact:\n  "
                    + "\n  ".join(problems)
                )

            print(f"The same day again, a worker of {WORKER_PROCESSES[-1]} processes…", flush=True)
            again = run_again(env, client)

            print(
                f"SQL statements: chunks of {SQL_SAMPLES[0]} and {SQL_SAMPLES[1]} accounts"
                " in-process…",
                flush=True,
            )
            statements = count_statements(
                [sample_ids[: SQL_SAMPLES[0]], sample_ids[SQL_SAMPLES[0] :]], SAMPLE_DAY
            )

            pdfs: tuple[Pdfs, Pdfs] | None = None
            if not arguments.no_pdfs:
                pdfs = _pdfs(env, client, run_ids, arguments.pdf_invoices)
        finally:
            client.flushdb()
            drop_database(url, template)

    print(
        f"\nThe billing day {BILLING_DAY} for {accounts:,} accounts, each: a New invoice of"
        f" {len(CHARGES)} recurring charges ({INVOICE_TOTAL} {CURRENCY}), its card charged"
        " through the sandbox, the payment applied, the invoice email and the receipt queued."
        " Celery on Redis, prefork workers consuming the billing queue only; PDF renders and"
        " email sends queued apart (counted, not run). Exact after each run.\n"
    )
    report(
        runs,
        paced,
        again,
        statements,
        SQL_SAMPLES,
        pdfs,
        int(settings.BILLING_CHUNK_SIZE),
        int(settings.BILLING_CHARGE_CONCURRENCY),
    )
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
