"""The invoices pages under load, against a big account: throughput, latency and SQL queries.

Run it with `make bench`, or on its own from the repository's root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        python3 -m uv run --frozen python -m bench.bench_invoices

What it does

1. Data. The PostgreSQL database of DATABASE_URL (default `portal_bench`; its name must contain
   "bench", since the script drops and recreates it) gets one account with 10,000 invoices
   and 200,000 items: ten years of monthly Recurring invoices, New and One-time invoices
   (USD, some CNY with 6% tax), Credits and Refunds that refer to earlier charges, about 20
   items per charge with detail items, and one Recurring invoice with 500 top-level items
   (900 rows with their details). The build takes under a minute and is kept: later runs
   reuse it until a migration or this script's data version changes (a fingerprint is kept
   as the database's comment).
   The pages are the Invoices list (first, filtered, last page), the 500-item invoice, and
   the account statement in USD over the last year and over all ten years (every invoice,
   credit, refund and payment with the running balance, and the aging).
2. SQL queries. Each page is requested once in-process through Django's test client, after
   one warm-up request, and its queries are counted: session, user, account and the page's
   own.
3. Load. gunicorn serves the portal (2 sync workers, DEBUG off, collected static files,
   settings bench.harness.settings, which add /bench/minimal/) on 127.0.0.1. A second
   process signs in once through the sign-in form, warms every page up, then runs 2 client
   threads in interleaved time slices: 4 rounds, each giving every page 2 seconds in a
   rotating order, so that a drift of the machine touches every page alike. A slice also
   stops after 2,000 requests per client, so the run is bounded either way (about 40 s).

How to read the table

- req/s: requests completed per second while the 2 clients (one per worker) asked for that
  page only. It is what the server manages for that page on this machine, where the clients,
  gunicorn and PostgreSQL share the CPUs; compare runs on the same machine only.
- median ms, p95 ms: the latency each request had, seen by the client. gunicorn's sync
  workers close every connection, so it includes a TCP connection to gunicorn, and Django
  opens a database connection per request (CONN_MAX_AGE=0, the default).
- vs minimal: req/s divided by the minimal view's. The minimal view is a signed-in page
  behind the same middleware that returns "ok" (session and user lookups, no template), the
  floor any page pays; 25% means the page costs four times that floor.
- SQL: the queries one request of the page makes.
- requests: how many requests the figures come from (the warm-up left out).

`--rounds` and `--slice-seconds` change the length of the load.

The aims after the table come from the issue that asked for this benchmark. A MISS is a
result, not a failure: the script exits 0 unless something broke (non-zero then).
"""

from __future__ import annotations

import argparse
import calendar
import hashlib
import math
import multiprocessing
import random
import re
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from http.client import HTTPConnection, HTTPResponse
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from bench.harness.common import (
    ROOT,
    SETTINGS_MODULE,
    BenchError,
    ChildProcess,
    argument_parser,
    bench_environment,
    child_process,
    migrate,
    own_database_url,
    percentile,
    postgres,
    print_aims,
    recreate_database,
    run_main,
    setup_django,
    use_environment,
)

if TYPE_CHECKING:
    from accounts.models import Account, User
    from invoices.models import Invoice, InvoiceItem

HOST = "127.0.0.1"


# The data. Change DATA_VERSION whenever the build below changes, so that the next run rebuilds.
DATA_VERSION = 1
INVOICES = 10_000
ITEMS = 200_000
BIG_INVOICE_TOP_LEVEL = 500
BIG_INVOICE_SERVER_EVERY = 5  # every 5th of its items is a server with 4 detail items
YEARS = 10
SEED = 20_260_101
COMPANY = "Benchmark Cloud Customer Ltd"
EMAIL = "bench-owner@example.com"
PASSWORD = "bench-only-password-2026"  # noqa: S105 (a throwaway user of the bench database)

# The load.
WORKERS = 2
CLIENTS = 2
ROUNDS = 4
SLICE_SECONDS = 2.0
MAX_REQUESTS_PER_SLICE = 2_000  # per client
WARMUP_REQUESTS = 3  # per client and page
REQUEST_TIMEOUT = 30.0

# The aims of the issue.
MAX_QUERIES = 8
MIN_SHARE_OF_MINIMAL = 0.10
MAX_LAST_TO_FIRST = 1.25
MAX_BIG_INVOICE_MS = 150.0

FILTER_QUERY = urlencode({"type": "recurring", "date_from": "2020-01-01", "date_to": "2024-12-31"})


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    path: str


# Environment and database -----------------------------------------------------------------


def data_fingerprint() -> str:
    """What the built data depends on: the migrations and this script's data parameters."""
    digest = hashlib.sha256()
    digest.update(f"{DATA_VERSION}:{INVOICES}:{ITEMS}:{BIG_INVOICE_TOP_LEVEL}:{SEED}".encode())
    for path in sorted(ROOT.glob("*/migrations/0*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return f"billing portal benchmark data {digest.hexdigest()[:32]}"


def database_holds(url: str, name: str, fingerprint: str) -> bool:
    """Whether the database exists and holds the data of `fingerprint` (its comment)."""
    with postgres(url) as connection:
        row = connection.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
    return row is not None and row[0] == fingerprint


def mark_database(url: str, name: str, fingerprint: str) -> None:
    from psycopg import sql

    with postgres(url) as connection:
        connection.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(fingerprint)
            )
        )


def prepare_schema() -> None:
    from django.core.management import call_command

    migrate()
    # DEBUG off serves hashed, compressed files from var/static through whitenoise.
    call_command("collectstatic", interactive=False, verbosity=0)


# The data -----------------------------------------------------------------------------------

# Servers by their number of detail items: (description, host prefix, details), where each
# detail is (description, category, quantity, unit price in USD).
SERVERS: dict[int, tuple[str, str, tuple[tuple[str, str, str, str], ...]]] = {
    3: (
        "Virtual Server",
        "vm",
        (
            ("8 vCPU", "Processor", "8", "9.50"),
            ("32 GB RAM", "Memory", "32", "2.25"),
            ("200 GB block storage", "Disk", "200", "0.10"),
        ),
    ),
    4: (
        "Database Server",
        "db",
        (
            ("AMD EPYC 9124 (16 cores)", "Processor", "1", "189.00"),
            ("128 GB RAM", "Memory", "1", "96.00"),
            ("2 × 3.84 TB NVMe SSD (RAID 1)", "Disk", "1", "120.00"),
            ("10 Gbps public and private uplinks", "Network", "1", "45.00"),
        ),
    ),
    5: (
        "Bare Metal Server",
        "bm",
        (
            ("Dual Intel Xeon Silver 4410Y (24 cores)", "Processor", "1", "289.00"),
            ("256 GB RAM", "Memory", "1", "180.00"),
            ("2 × 1.92 TB NVMe SSD (RAID 1)", "Disk", "1", "96.00"),
            ("10 Gbps public and private uplinks", "Network", "1", "45.00"),
            ("Ubuntu 24.04 LTS", "Operating system", "1", "0.00"),
        ),
    ),
}
# Items without details: (description, category, host prefix or "", unit price in USD,
# quantity range).
EXTRAS: tuple[tuple[str, str, str, str, tuple[int, int]], ...] = (
    ("Cloud Server (2 vCPU, 4 GB)", "Server", "app", "24.00", (1, 1)),
    ("Local Load Balancer", "Network", "lb", "49.99", (1, 1)),
    ("Managed Backup (1 TB)", "Storage", "backup", "60.00", (1, 1)),
    ("Additional IPv4 address", "Network", "", "3.00", (1, 16)),
    ("Object storage (GB-month)", "Storage", "", "0.02", (100, 5000)),
    ("Public outbound transfer above 20 TB (GB)", "Network", "", "0.05", (50, 20000)),
    ("Managed DNS zone", "Network", "", "5.00", (1, 4)),
    ("SSL certificate (1 year)", "Security", "", "149.00", (1, 1)),
    ("Premium support", "Support", "", "250.00", (1, 1)),
    ("Remote hands (hour)", "Support", "", "95.00", (1, 6)),
    ("ICP 备案代办服务", "服务", "", "110.00", (1, 1)),
)
CNY_PER_USD = Decimal("7.2")
CNY_TAX_RATE = Decimal(6)
CORRECTION_REASONS = (
    "Service credit: network outage",
    "Service credit: disk replacement delay",
    "Goodwill credit",
    "Cancelled within 30 days",
    "Duplicate charge",
)


@dataclass
class _Spec:
    """An invoice to build, before its amounts are known."""

    issue_date: date
    type: str
    currency: str = "USD"
    state: str = ""
    refers_to: int | None = None  # index into the specs
    rows: int = 0
    big: bool = False


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def _spread(total: int, count: int, rng: random.Random) -> list[int]:
    """`count` row counts around the mean, from 3 to 60, that add up to exactly `total`."""
    mean = total // count
    counts = [rng.randint(max(3, mean - 8), mean + 8) for _ in range(count)]
    difference = total - sum(counts)
    while difference:
        index = rng.randrange(count)
        if difference > 0 and counts[index] < 60:
            counts[index] += 1
            difference -= 1
        elif difference < 0 and counts[index] > 3:
            counts[index] -= 1
            difference += 1
    return counts


def _shape(rows: int, rng: random.Random) -> list[int]:
    """How many detail items each top-level item has, for `rows` rows in all."""
    shape: list[int] = []
    left = rows
    while left:
        if left >= 4 and rng.random() < 0.4:
            details = rng.randint(3, min(5, left - 1))
            shape.append(details)
            left -= details + 1
        else:
            shape.append(0)
            left -= 1
    return shape


def _plan(today: date, rng: random.Random) -> list[_Spec]:
    """Every invoice's date, type, currency, state, correction target and number of rows."""
    from invoices.models import Invoice

    kind, state = Invoice.Type, Invoice.State
    months = [_months_back(today, back) for back in range(YEARS * 12 - 1, -1, -1)]
    specs = [_Spec(month, kind.RECURRING) for month in months]
    span = (today - months[0]).days
    others = (kind.NEW, kind.ONE_TIME, kind.CREDIT, kind.REFUND)
    for _ in range(INVOICES - len(specs)):
        (type_,) = rng.choices(others, weights=(46, 46, 6, 2))
        currency = "CNY" if type_ in (kind.NEW, kind.ONE_TIME) and rng.random() < 0.12 else "USD"
        specs.append(_Spec(months[0] + timedelta(days=rng.randint(0, span)), type_, currency))
    specs.sort(key=lambda spec: (spec.issue_date, spec.type != kind.RECURRING))
    big_month = months[-19]
    for spec in specs:
        spec.big = spec.type == kind.RECURRING and spec.issue_date == big_month

    # Charges older than 60 days are paid (a few are overdue); a correction refers to a
    # recent charge of the same account that no other correction refers to.
    paid_before = today - timedelta(days=60)
    charges: dict[str, list[int]] = {"USD": [], "CNY": []}
    corrected: set[int] = set()
    for index, spec in enumerate(specs):
        if spec.type in (kind.CREDIT, kind.REFUND):
            pool = charges["CNY" if rng.random() < 0.1 else "USD"][-300:]
            candidates = [
                other
                for other in pool
                if other not in corrected
                and (spec.type == kind.CREDIT or specs[other].state == state.PAID)
            ]
            if candidates:
                original = rng.choice(candidates)
                corrected.add(original)
                spec.refers_to = original
                spec.currency = specs[original].currency
                spec.state = state.CREDIT_USED if spec.type == kind.CREDIT else state.CLOSED
                spec.rows = 1
                continue
            spec.type = kind.ONE_TIME  # nothing to correct yet, early in the history
        overdue = rng.random() < 0.003
        spec.state = state.OPEN if spec.issue_date > paid_before or overdue else state.PAID
        charges[spec.currency].append(index)

    big_rows = BIG_INVOICE_TOP_LEVEL + (BIG_INVOICE_TOP_LEVEL // BIG_INVOICE_SERVER_EVERY) * 4
    ordinary = [spec for spec in specs if spec.rows == 0 and not spec.big]
    corrections = sum(spec.rows for spec in specs)
    for spec, rows in zip(
        ordinary, _spread(ITEMS - big_rows - corrections, len(ordinary), rng), strict=True
    ):
        spec.rows = rows
    for spec in specs:
        if spec.big:
            spec.rows = big_rows
    return specs


def _reserve_ids(model: type[Invoice] | type[InvoiceItem], count: int) -> Iterator[int]:
    """`count` primary keys from the table's own sequence, so rows can point at each other."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, count],
        )
        return iter([row[0] for row in cursor.fetchall()])


class _ItemMaker:
    def __init__(self, rng: random.Random, ids: Iterator[int]) -> None:
        self.rng = rng
        self.ids = ids

    def price(self, usd: str, currency: str) -> Decimal:
        from invoices.money import round_money

        value = Decimal(usd)
        return round_money(value * CNY_PER_USD, currency) if currency == "CNY" else value

    def host(self, prefix: str) -> str:
        return f"{prefix}{self.rng.randint(1, 400):03d}.cloud.benchmark-customer.example"

    def single(self, invoice: Invoice, description: str, amount: Decimal) -> InvoiceItem:
        """The one item of a Credit or Refund, as the portal issues them."""
        from invoices.models import InvoiceItem

        return InvoiceItem(
            id=next(self.ids),
            invoice_id=invoice.pk,
            position=1,
            description=description,
            quantity=Decimal(1),
            unit_price=amount,
            amount=amount,
        )

    def items(
        self,
        invoice: Invoice,
        shape: Sequence[int],
        period: tuple[date, date] | None,
    ) -> list[InvoiceItem]:
        from invoices.models import InvoiceItem
        from invoices.money import round_money

        rng, currency = self.rng, invoice.currency
        start, end = period or (None, None)
        items: list[InvoiceItem] = []

        def add(parent: InvoiceItem | None, **fields: object) -> InvoiceItem:
            item = InvoiceItem(
                id=next(self.ids),
                invoice_id=invoice.pk,
                parent_id=parent.pk if parent else None,
                position=len(items) + 1,
                period_start=start,
                period_end=end,
                **fields,
            )
            items.append(item)
            return item

        for details in shape:
            if details:
                description, prefix, parts = SERVERS[details]
                server = add(
                    None,
                    description=description,
                    category="Server",
                    resource_label=self.host(prefix),
                    quantity=Decimal(1),
                    unit_price=Decimal(0),
                    amount=Decimal(0),
                )
                for text, category, count, usd in parts:
                    price = self.price(usd, currency)
                    detail = add(
                        server,
                        description=text,
                        category=category,
                        resource_label="",
                        quantity=Decimal(count),
                        unit_price=price,
                        amount=round_money(Decimal(count) * price, currency),
                    )
                    server.amount += detail.amount
            else:
                text, category, prefix, usd, (low, high) = rng.choice(EXTRAS)
                quantity = Decimal(rng.randint(low, high))
                price = self.price(usd, currency)
                add(
                    None,
                    description=text,
                    category=category,
                    resource_label=self.host(prefix) if prefix else "",
                    quantity=quantity,
                    unit_price=price,
                    amount=round_money(quantity * price, currency),
                )
        return items


def build_data(today: date) -> None:
    """The account, its user, 10,000 invoices and 200,000 items, in one transaction."""
    from django.conf import settings
    from django.db import transaction

    from accounts.models import Account, Membership, User
    from invoices.models import (
        Invoice,
        InvoiceItem,
        NumberSequence,
        RecurringCharge,
        RecurringChargeDetail,
    )
    from invoices.money import round_money
    from invoices.services import INVOICE_SEQUENCE

    rng = random.Random(SEED)  # noqa: S311 (reproducible made-up data, no secret)
    kind = Invoice.Type
    with transaction.atomic():
        account = Account.objects.create(
            company_name=COMPANY,
            address_line1="88 Century Avenue, Pudong",
            city="Shanghai",
            postal_code="200120",
            country="CN",
            currency="USD",
            billing_day=1,
        )
        user = User.objects.create_user(EMAIL, PASSWORD, full_name="Benchmark Owner")
        Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
        # What the next Recurring invoice bills, for the summary beside the list.
        for details, (description, prefix, parts) in SERVERS.items():
            for number in range(1, 5):
                charge = RecurringCharge.objects.create(
                    account=account,
                    description=description,
                    category="Server",
                    resource_label=f"{prefix}{number:03d}.cloud.benchmark-customer.example",
                    starts_on=_months_back(today, YEARS * 12 - details),
                )
                RecurringChargeDetail.objects.bulk_create(
                    RecurringChargeDetail(
                        charge=charge,
                        position=position,
                        description=text,
                        category=category,
                        quantity=Decimal(quantity),
                        unit_price=Decimal(usd),
                    )
                    for position, (text, category, quantity, usd) in enumerate(parts, 1)
                )

        specs = _plan(today, rng)
        invoice_ids = _reserve_ids(Invoice, len(specs))
        maker = _ItemMaker(rng, _reserve_ids(InvoiceItem, ITEMS))
        buyer_address = "\n".join(
            [
                account.address_line1,
                f"{account.city} {account.postal_code}",
                str(account.country.name),
            ]
        )
        prefix, digits = settings.INVOICE_NUMBER_PREFIX, settings.INVOICE_NUMBER_DIGITS
        invoices: list[Invoice] = []
        items: list[InvoiceItem] = []
        for number, spec in enumerate(specs, 1):
            is_charge = spec.type in Invoice.CHARGE_TYPES
            period: tuple[date, date] | None = None
            if spec.type in (kind.RECURRING, kind.NEW):
                period = (spec.issue_date, _month_end(spec.issue_date))
            invoice = Invoice(
                id=next(invoice_ids),
                account=account,
                number=f"{prefix}{number:0{digits}d}",
                type=spec.type,
                state=spec.state,
                issue_date=spec.issue_date,
                due_date=spec.issue_date
                + timedelta(days=settings.INVOICE_PAYMENT_TERMS_DAYS if is_charge else 0),
                currency=spec.currency,
                period_start=period[0] if period else None,
                period_end=period[1] if period else None,
                seller_name=settings.SELLER_NAME,
                seller_address=settings.SELLER_ADDRESS,
                seller_tax_id=settings.SELLER_TAX_ID,
                buyer_name=account.company_name,
                buyer_address=buyer_address,
                buyer_country="CN",
            )
            if spec.refers_to is not None:
                original = invoices[spec.refers_to]
                share = Decimal(rng.randint(5, 60)) / 100
                amount = max(round_money(original.total * share, spec.currency), Decimal("0.01"))
                invoice.refers_to_id = original.pk
                invoice.reason = rng.choice(CORRECTION_REASONS)
                lines = [maker.single(invoice, invoice.reason, -amount)]
            else:
                shape = (
                    [
                        4 if position % BIG_INVOICE_SERVER_EVERY == 0 else 0
                        for position in range(BIG_INVOICE_TOP_LEVEL)
                    ]
                    if spec.big
                    else _shape(spec.rows, rng)
                )
                lines = maker.items(invoice, shape, period)
                invoice.tax_rate = CNY_TAX_RATE if spec.currency == "CNY" else Decimal(0)
            assert len(lines) == spec.rows, (spec, len(lines))
            invoice.subtotal = sum(
                (line.amount for line in lines if line.parent_id is None), Decimal(0)
            )
            invoice.tax = round_money(invoice.subtotal * invoice.tax_rate / 100, spec.currency)
            invoice.total = invoice.subtotal + invoice.tax
            invoice.balance = invoice.total if spec.state == Invoice.State.OPEN else Decimal(0)
            invoices.append(invoice)
            items.extend(lines)

        Invoice.objects.bulk_create(invoices, batch_size=2_000)
        InvoiceItem.objects.bulk_create(items, batch_size=5_000)
        NumberSequence.objects.update_or_create(
            name=INVOICE_SEQUENCE, defaults={"next_value": len(invoices) + 1}
        )


def bench_user() -> tuple[User, Account]:
    """The benchmark's user and account, checked to hold the data; BenchError when not."""
    from accounts.models import Account, User
    from invoices.models import Invoice, InvoiceItem

    account = Account.objects.filter(company_name=COMPANY).first()
    user = User.objects.filter(email=EMAIL).first()
    if account is None or user is None:
        raise BenchError("The benchmark account is missing.")
    invoices = Invoice.objects.filter(account=account).count()
    items = InvoiceItem.objects.filter(invoice__account=account).count()
    if (invoices, items) != (INVOICES, ITEMS):
        raise BenchError(f"The benchmark account has {invoices} invoices and {items} items.")
    return user, account


def big_invoice(account: Account) -> Invoice:
    from django.db.models import Count, Q

    from invoices.models import Invoice

    return (
        Invoice.objects.filter(account=account)
        .annotate(top_level=Count("items", filter=Q(items__parent__isnull=True)))
        .get(top_level=BIG_INVOICE_TOP_LEVEL)
    )


def ensure_data(url: str, name: str) -> tuple[User, Account]:
    """Reuse the data of an earlier run when it is this build's; else rebuild from scratch."""
    fingerprint = data_fingerprint()
    if database_holds(url, name, fingerprint):
        prepare_schema()
        try:
            found = bench_user()
            print(f"Reusing the data in {name}.", flush=True)
            return found
        except BenchError as error:
            print(f"{error} Rebuilding the database.", flush=True)
    recreate_database(url, name)
    prepare_schema()
    print(
        f"Building {INVOICES:,} invoices and {ITEMS:,} items in {name} (kept for later runs)…",
        flush=True,
    )
    started = time.perf_counter()
    build_data(date.today())
    print(f"Built in {time.perf_counter() - started:.0f} s.", flush=True)
    mark_database(url, name, fingerprint)
    return bench_user()


# SQL queries --------------------------------------------------------------------------------


def count_queries(user: User, pages: Sequence[Page]) -> dict[str, int]:
    """The SQL queries of one request of each page, in-process, after a warm-up request."""
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    counts: dict[str, int] = {}
    for page in pages:
        client.get(page.path)
        reset_queries()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(page.path)
        if response.status_code != 200:
            raise BenchError(f"{page.path} answered {response.status_code} in-process.")
        counts[page.key] = len(queries)
    return counts


# The server ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[int]:
    """gunicorn serving the portal on 127.0.0.1; yields its port and always stops it."""
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "portal.wsgi:application",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--bind",
        f"{HOST}:{port}",
        "--env",
        f"DJANGO_SETTINGS_MODULE={SETTINGS_MODULE}",
        "--graceful-timeout",
        "5",
        # No control socket: it would take the one under ~/.gunicorn from another server.
        "--no-control-socket",
    ]
    with child_process("gunicorn", command, env, stop_timeout=15) as server:
        _wait_until_serving(server, port)
        yield port


def _wait_until_serving(server: ChildProcess, port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        server.check()
        connection = HTTPConnection(HOST, port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.2)
    raise BenchError("gunicorn did not answer /healthz within 30 s.")


# The load (runs in a second process; standard library only) --------------------------------
# It raises only built-in exceptions: classes of this script do not unpickle in the parent.

# Per page: every request's latency in seconds, and the client-seconds spent on the page.
LoadResult = dict[str, tuple[list[float], float]]


def _cookies(response: HTTPResponse, jar: SimpleCookie) -> None:
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)


def sign_in(port: int) -> str:
    """Sign in through the form, as a browser does; returns the Cookie header to send."""
    connection = HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    try:
        jar: SimpleCookie = SimpleCookie()
        connection.request("GET", "/login/")
        response = connection.getresponse()
        form = response.read().decode()
        _cookies(response, jar)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        if response.status != 200 or token is None or "csrftoken" not in jar:
            raise RuntimeError(f"/login/ answered {response.status} without a CSRF token.")
        body = urlencode(
            {"csrfmiddlewaretoken": token.group(1), "username": EMAIL, "password": PASSWORD}
        )
        connection.request(
            "POST",
            "/login/",
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={jar['csrftoken'].value}",
            },
        )
        response = connection.getresponse()
        response.read()
        _cookies(response, jar)
        if response.status != 302 or "sessionid" not in jar:
            raise RuntimeError(f"Signing in answered {response.status} without a session.")
        return "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())
    finally:
        connection.close()


def _hammer(
    port: int, cookie: str, path: str, deadline: float | None, limit: int
) -> tuple[list[float], float]:
    """Request `path` until `deadline` or `limit` requests; latencies and time spent."""
    connection = HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
    latencies: list[float] = []
    started = time.perf_counter()
    try:
        while len(latencies) < limit and (deadline is None or time.perf_counter() < deadline):
            sent = time.perf_counter()
            connection.request("GET", path, headers={"Cookie": cookie})
            response = connection.getresponse()
            response.read()
            latencies.append(time.perf_counter() - sent)
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status} under load.")
    finally:
        connection.close()
    return latencies, time.perf_counter() - started


def run_load(port: int, pages: Sequence[Page], rounds: int, slice_seconds: float) -> LoadResult:
    """Sign in, warm up, then give every page `rounds` slices in a rotating order."""
    cookie = sign_in(port)
    results: LoadResult = {page.key: ([], 0.0) for page in pages}
    with ThreadPoolExecutor(CLIENTS) as clients:

        def slice_of(
            page: Page, deadline: float | None, limit: int
        ) -> list[tuple[list[float], float]]:
            return list(
                clients.map(
                    lambda _: _hammer(port, cookie, page.path, deadline, limit), range(CLIENTS)
                )
            )

        for page in pages:
            slice_of(page, None, WARMUP_REQUESTS)
        for round_ in range(rounds):
            shift = round_ % len(pages)
            for page in [*pages[shift:], *pages[:shift]]:
                deadline = time.perf_counter() + slice_seconds
                for latencies, spent in slice_of(page, deadline, MAX_REQUESTS_PER_SLICE):
                    collected, total = results[page.key]
                    collected.extend(latencies)
                    results[page.key] = (collected, total + spent)
    return results


def load(port: int, pages: Sequence[Page], rounds: int, slice_seconds: float) -> LoadResult:
    """run_load in a second process, so the clients never share an interpreter with Django."""
    bound = rounds * len(pages) * (slice_seconds + REQUEST_TIMEOUT) + 120
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as process:
        future = process.submit(run_load, port, pages, rounds, slice_seconds)
        try:
            return future.result(timeout=bound)
        except (RuntimeError, OSError) as error:
            raise BenchError(f"The load process failed: {error}") from error


# The report ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    page: Page
    requests_per_second: float
    median_ms: float
    p95_ms: float
    queries: int


def summarise(pages: Sequence[Page], result: LoadResult, queries: dict[str, int]) -> list[Row]:
    rows = []
    for page in pages:
        latencies, client_seconds = result[page.key]
        rows.append(
            Row(
                page=page,
                # Client-seconds over the clients: the wall time with both clients busy.
                requests_per_second=len(latencies) / (client_seconds / CLIENTS),
                median_ms=percentile(latencies, 0.5) * 1000,
                p95_ms=percentile(latencies, 0.95) * 1000,
                queries=queries[page.key],
            )
        )
    return rows


def report(rows: Sequence[Row], result: LoadResult) -> None:
    by_key = {row.page.key: row for row in rows}
    minimal = by_key["minimal"]
    width = max(len(row.page.label) for row in rows)
    header = f"{'page':<{width}}  {'req/s':>7}  {'median ms':>9}  {'p95 ms':>7}  {'vs minimal':>10}"
    print(f"{header}  {'SQL':>3}  {'requests':>8}")
    for row in rows:
        share = row.requests_per_second / minimal.requests_per_second
        print(
            f"{row.page.label:<{width}}  {row.requests_per_second:>7.1f}  {row.median_ms:>9.1f}"
            f"  {row.p95_ms:>7.1f}  {share:>10.1%}  {row.queries:>3}"
            f"  {len(result[row.page.key][0]):>8}"
        )

    # The aim of at most MAX_QUERIES is the Invoices pages'; the statement's is to cost the
    # same queries for one year as for all ten.
    portal_pages = [row for row in rows if row.page.key not in {"minimal", *STATEMENT_PAGES}]
    most = max(portal_pages, key=lambda row: row.queries)
    share = by_key["list"].requests_per_second / minimal.requests_per_second
    last_to_first = by_key["last"].median_ms / by_key["list"].median_ms
    big = by_key["invoice"].median_ms
    aims: list[tuple[bool, str]] = [
        (
            most.queries <= MAX_QUERIES,
            f"at most {MAX_QUERIES} SQL queries per page (most: {most.queries}, {most.page.label})",
        ),
        (
            share >= MIN_SHARE_OF_MINIMAL,
            f"Invoices page at {MIN_SHARE_OF_MINIMAL:.0%} or more of the minimal view's "
            f"throughput ({share:.1%})",
        ),
        (
            last_to_first <= MAX_LAST_TO_FIRST,
            f"last page within {MAX_LAST_TO_FIRST}x of the first, median ({last_to_first:.2f}x)",
        ),
        (
            big < MAX_BIG_INVOICE_MS,
            f"500-item invoice under {MAX_BIG_INVOICE_MS:.0f} ms median ({big:.1f} ms)",
        ),
        (
            by_key["statement_year"].queries == by_key["statement_all"].queries,
            "the statement costs the same SQL queries for a year as for all ten "
            f"({by_key['statement_year'].queries} and {by_key['statement_all'].queries})",
        ),
    ]
    print_aims(aims)


STATEMENT_PAGES = ("statement_year", "statement_all")


def statement_path(days: int) -> str:
    """The account statement in USD for the `days` up to today."""
    today = date.today()
    start = today - timedelta(days=days)
    return f"/billing/statement/?{urlencode({'start': start, 'end': today, 'currency': 'USD'})}"


# Main ---------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="slices per page")
    parser.add_argument(
        "--slice-seconds", type=float, default=SLICE_SECONDS, help="length of one slice"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    env = bench_environment()
    use_environment(env)
    url, name = own_database_url(env["DATABASE_URL"], "")
    setup_django()
    from django.conf import settings
    from django.db import connections

    user, account = ensure_data(url, name)
    invoice = big_invoice(account)
    last_page = math.ceil(INVOICES / settings.INVOICES_PER_PAGE)
    pages = [
        Page("list", "Invoices", "/billing/invoices/"),
        Page("filtered", "Invoices, filtered", f"/billing/invoices/?{FILTER_QUERY}"),
        Page("last", f"Invoices, last page ({last_page})", f"/billing/invoices/?page={last_page}"),
        Page("invoice", "Invoice with 500 items", f"/billing/invoices/{invoice.pk}/"),
        Page("statement_year", "Statement, last 12 months", statement_path(365)),
        Page("statement_all", f"Statement, all {INVOICES:,} invoices", statement_path(366 * YEARS)),
        Page("minimal", "Minimal view", "/bench/minimal/"),
    ]
    queries = count_queries(user, pages)
    connections.close_all()

    print(
        f"Loading gunicorn ({WORKERS} sync workers) with {CLIENTS} clients: {arguments.rounds} "
        f"rounds × {len(pages)} pages × {arguments.slice_seconds:g} s…",
        flush=True,
    )
    with gunicorn(env) as port:
        result = load(port, pages, arguments.rounds, arguments.slice_seconds)
    print(
        f"\n{INVOICES:,} invoices, {ITEMS:,} items; invoice {invoice.number} has "
        f"{BIG_INVOICE_TOP_LEVEL} items ({invoice.items.count()} rows with their details)\n"
    )
    report(summarise(pages, result, queries), result)
    return 0


if __name__ == "__main__":
    run_main(main)
