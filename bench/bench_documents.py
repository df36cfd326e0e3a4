"""Invoice PDFs: the portal's renderer against bare WeasyPrint and headless Chromium.

Run it with `make bench`, or on its own from the repository's root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        python3 -m uv run --frozen python -m bench.bench_documents

What it does

1. Data. In the PostgreSQL database of DATABASE_URL (default `portal_bench`, created if it is
   missing, never dropped here) one account, 上海云帆科技有限公司 (so that the PDFs carry
   Chinese glyphs), gets three One-time invoices issued through the portal's own service
   (`invoice_issue_one_time`, its after-issue render task and email patched out): 10, 200 and
   2,000 top-level items with a service period, most without details, about one in seven a
   server with 2–4 detail items. They are kept: later runs find them again by the company
   name and their number of items and rows (when bench/bench_invoices.py rebuilds the
   database, the next run issues them again).
2. Download. Each invoice's English PDF is stored first (`invoice_document_render`, which
   renders only when the stored one is out of date), into MEDIA_ROOT (default var/bench/media,
   apart from the development server's files). Then GET /billing/invoices/<pk>/pdf/ is asked
   in-process through Django's test client, signed in as a member of the account: 3 warm-up
   and 30 timed requests per invoice, the invoices taking turns, each body read to its end.
   The renderer is wrapped meanwhile to count calls, and the document's `rendered_at` is
   compared before and after: both prove that no download rendered. The SQL queries of one
   download are counted too.
3. Renders. For every invoice each renderer gets a fresh process of its own (multiprocessing,
   spawn), which sets up, renders a 10-item warm-up document once, then renders the invoice 15
   times (10 items), 5 times (200) or 3 times (2,000). The three processes of an invoice live
   side by side and take turns, one run each in a rotating order, so that a drift of the
   machine (other work on it) touches every renderer alike; only one works at a time.
     - portal: `invoice_pdf_html(invoice, "en")` then `render_pdf(html)`, the work of the
       worker's render task less storing the file; its HTML is checked to be byte for byte the
       HTML the other two get;
     - bare WeasyPrint: `weasyprint.HTML(string=html).write_pdf()` on that same HTML, in a
       process without Django;
     - Chromium: Debian's /usr/bin/chromium through Playwright, launched once per process;
       each run opens a page, `set_content(html)` and `pdf(format="A4",
       print_background=True)` (both timed), then closes the page. Chromium ignores WeasyPrint's
       paged-media extras (the page counter and the title in the page margins, string-set), so
       its PDF lacks the "Page 3 of 99" footer but has the same content, page size and margins.

How to read the table

- document: the invoice, its top-level items and in brackets all its rows (items and their
  detail items); the PDF prints every item in the summary and, for items with details, a
  group row and the detail rows in the detail section.
- median s: the median wall time of one render. For the portal, HTML s is the part of it spent
  building the HTML (database queries, presenters and the template).
- pages, pages/s: the PDF's pages (counted with pypdf) and pages over the median time.
- idle MB, peak MB: the process's peak resident memory (VmHWM) once set up (Python, Django for
  the portal, WeasyPrint imported), and after the warm-up and all its runs: what a worker
  process that has rendered this invoice a few times reaches. (Not ru_maxrss: Linux carries it
  across exec, so a spawned process would report the peak of the parent it was forked from.)
  For Chromium both add up the peaks of every Chromium process (not Playwright's driver), read
  before each page closes; shared pages count once per process, so the line under the table
  also gives their proportional share (PSS) at the same moments.
- vs bare: the median over bare WeasyPrint's median on the same HTML.
- rows per A4 page: counted in the portal's PDF of the 2,000-item invoice, from the position of
  each summary row's number (pypdf's text positions): the median number of summary rows on
  the pages that hold summary rows only (neither the first page, with the header, nor the
  last, with the totals). The aim's line shows that median.
- download: median and 95th percentile of the in-process request (no network, no server), the
  stored file's size and the SQL queries of one download (session, user, membership, invoice,
  stored document).

Timings vary with the machine: compare runs on the same machine only. The first run also
issues the invoices and stores their PDFs (a minute more); later runs reuse both.
`--repetitions` sets the runs of every invoice and `--downloads` the timed downloads.

The aims after the table come from the issue that asked for this benchmark. A MISS is a
result, not a failure: the script exits 0 unless something broke (non-zero then).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import multiprocessing
import os
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.harness import common as harness
from bench.harness.common import (
    ROOT,
    BenchError,
    argument_parser,
    bench_environment,
    migrate,
    own_database_url,
    percentile,
    postgres,
    print_aims,
    run_main,
    use_environment,
)

if TYPE_CHECKING:
    from accounts.models import Account, User
    from invoices.models import Invoice
    from invoices.services import ItemSpec

DEFAULT_MEDIA_ROOT = ROOT / "var" / "bench" / "media"

# The data.
SIZES = (10, 200, 2_000)
REPETITIONS = {10: 15, 200: 5, 2_000: 3}  # a 10-item render is short: more runs
SEED = 20_260_601
DETAIL_SHARE = 0.15  # of the top-level items, servers with 2–4 detail items
COMPANY = "上海云帆科技有限公司"
EMAIL = "bench-documents@example.com"
LANGUAGE = "en"

# The measurement.
DOWNLOADS = 30
DOWNLOAD_WARMUPS = 3
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHILD_TIMEOUT = 600.0  # seconds, for one renderer's process

# The aims of the issue.
MAX_PORTAL_TO_BARE = 1.15
MIN_ROWS_PER_PAGE = 40
MAX_PEAK_MB = 600.0
MAX_DOWNLOAD_MS = 20.0

RENDERERS = ("portal", "weasyprint", "chromium")
RENDERER_LABELS = {
    "portal": "portal",
    "weasyprint": "bare WeasyPrint",
    "chromium": "Chromium",
}


# Environment and database -----------------------------------------------------------------


def setup_django() -> None:
    """Django with the benchmark's settings, in this process (the parent or a child)."""
    harness.setup_django()
    from django.conf import settings

    # DEBUG off asks for the manifest of collected static files; no page here needs them.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def ensure_database(url: str) -> str:
    """Create the database of `url` when it is missing (never drop it); returns its name."""
    from psycopg import sql

    _url, name = own_database_url(url, "")
    with postgres(url) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if exists.fetchone() is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


# The invoices -------------------------------------------------------------------------------

# Items without details: (description, category, host prefix or "", unit price in USD,
# quantity range).
SIMPLE_ITEMS: tuple[tuple[str, str, str, str, tuple[int, int]], ...] = (
    ("Cloud Server (2 vCPU, 4 GB)", "Server", "app", "24.00", (1, 1)),
    ("Cloud Server (4 vCPU, 8 GB)", "Server", "web", "48.00", (1, 1)),
    ("Local Load Balancer", "Network", "lb", "49.99", (1, 1)),
    ("Managed Backup (1 TB)", "Storage", "backup", "60.00", (1, 1)),
    ("Block storage volume (GB-month)", "Storage", "vol", "0.10", (50, 2000)),
    ("Additional IPv4 address", "Network", "", "3.00", (1, 16)),
    ("Object storage (GB-month)", "Storage", "", "0.02", (100, 5000)),
    ("Public outbound transfer (GB)", "Network", "", "0.05", (50, 20000)),
    ("CDN 流量 (GB)", "网络", "", "0.03", (100, 80000)),
    ("云数据库备份 (GB-month)", "存储", "", "0.04", (10, 2000)),
    ("ICP 备案代办服务", "服务", "", "110.00", (1, 1)),
    ("Managed DNS zone", "Network", "", "5.00", (1, 4)),
    ("Snapshot storage (GB-month)", "Storage", "", "0.05", (10, 900)),
    ("Remote hands (hour)", "Support", "", "95.00", (1, 6)),
)
# Servers by their number of detail items: (description, host prefix, details), each detail
# (description, category, quantity, unit price in USD).
SERVERS: dict[int, tuple[str, str, tuple[tuple[str, str, str, str], ...]]] = {
    2: (
        "Virtual Server",
        "vm",
        (
            ("8 vCPU", "Processor", "8", "9.50"),
            ("32 GB RAM", "Memory", "32", "2.25"),
        ),
    ),
    3: (
        "Database Server",
        "db",
        (
            ("AMD EPYC 9124 (16 cores)", "Processor", "1", "189.00"),
            ("128 GB RAM", "Memory", "1", "96.00"),
            ("2 × 3.84 TB NVMe SSD (RAID 1)", "Disk", "1", "120.00"),
        ),
    ),
    4: (
        "裸金属服务器 Bare Metal Server",
        "bm",
        (
            ("Dual Intel Xeon Silver 4410Y (24 cores)", "Processor", "1", "289.00"),
            ("256 GB RAM", "Memory", "1", "180.00"),
            ("2 × 1.92 TB NVMe SSD (RAID 1)", "Disk", "1", "96.00"),
            ("10 Gbps public and private uplinks", "Network", "1", "45.00"),
        ),
    ),
}


def _previous_month(today: date) -> tuple[date, date]:
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def item_specs(count: int, period: tuple[date, date]) -> list[ItemSpec]:
    """`count` top-level items of a month's usage, the same for the same `count`."""
    from invoices.services import ItemSpec

    rng = random.Random(SEED + count)  # noqa: S311 (reproducible made-up data, no secret)
    start, end = period

    def host(prefix: str) -> str:
        return f"{prefix}-{rng.randint(1, 999):03d}.sh.yunfan-tech.example"

    specs: list[ItemSpec] = []
    for _ in range(count):
        if rng.random() < DETAIL_SHARE:
            description, prefix, parts = SERVERS[rng.choice(sorted(SERVERS))]
            details = tuple(
                ItemSpec(
                    description=text,
                    category=category,
                    quantity=Decimal(quantity),
                    unit_price=Decimal(usd),
                    period_start=start,
                    period_end=end,
                )
                for text, category, quantity, usd in parts
            )
            specs.append(
                ItemSpec(
                    description=description,
                    category="Server",
                    resource_label=host(prefix),
                    period_start=start,
                    period_end=end,
                    details=details,
                )
            )
        else:
            text, category, prefix, usd, (low, high) = rng.choice(SIMPLE_ITEMS)
            specs.append(
                ItemSpec(
                    description=text,
                    category=category,
                    resource_label=host(prefix) if prefix else "",
                    quantity=Decimal(rng.randint(low, high)),
                    unit_price=Decimal(usd),
                    period_start=start,
                    period_end=end,
                )
            )
    return specs


def row_count(specs: Sequence[ItemSpec]) -> int:
    return sum(1 + len(spec.details) for spec in specs)


@dataclass(frozen=True)
class Subject:
    """A benchmark invoice and the numbers the report needs."""

    items: int
    rows: int
    with_details: int
    invoice: Invoice

    @property
    def label(self) -> str:
        return f"{self.items:,} items ({self.rows:,} rows)"


def bench_account() -> tuple[User, Account]:
    """The benchmark's account and its owner, created on the first run."""
    from django.db import transaction

    from accounts.models import Account, Membership, User

    with transaction.atomic():
        account = Account.objects.filter(company_name=COMPANY).order_by("pk").first()
        if account is None:
            account = Account.objects.create(
                company_name=COMPANY,
                address_line1="浦东新区世纪大道 88 号 18 楼",
                city="上海",
                postal_code="200120",
                country="CN",
                currency="USD",
                billing_day=1,
                language=LANGUAGE,
            )
        user = User.objects.filter(email=EMAIL).first()
        if user is None:
            user = User.objects.create_user(EMAIL, None, full_name="Benchmark Documents")
        Membership.objects.get_or_create(
            user=user, account=account, defaults={"role": Membership.Role.OWNER}
        )
    return user, account


def ensure_invoices(account: Account) -> list[Subject]:
    """The account's 10-, 200- and 2,000-item invoices, issued now if an earlier run did not."""
    from unittest import mock

    from django.db.models import Count, Q

    from invoices.models import Invoice
    from invoices.services import invoice_issue_one_time

    subjects = []
    for items in SIZES:
        specs = item_specs(items, _previous_month(date.today()))
        rows = row_count(specs)
        found = (
            Invoice.objects.filter(account=account, type=Invoice.Type.ONE_TIME)
            .annotate(
                top_level=Count("items", filter=Q(items__parent__isnull=True)),
                all_rows=Count("items"),
            )
            .filter(top_level=items, all_rows=rows)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
        )
        if found is None:
            print(f"Issuing the {items:,}-item invoice (kept for later runs)…", flush=True)
            # The benchmark renders by itself: no render task, no email.
            with mock.patch("invoices.services._after_issue"):
                found = invoice_issue_one_time(account=account, items=specs).pk
        subjects.append(
            Subject(
                items=items,
                rows=rows,
                with_details=sum(1 for spec in specs if spec.details),
                invoice=Invoice.objects.get(pk=found),
            )
        )
    return subjects


# Downloads ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Download:
    subject: Subject
    median_ms: float
    p95_ms: float
    queries: int
    size: int
    rendered: bool  # whether a download rendered (it must not)


def measure_downloads(user: User, subjects: Sequence[Subject], count: int) -> list[Download]:
    """Store each PDF, then time its download in-process; prove no download renders."""
    from unittest import mock

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from invoices import documents, views

    stored = {}
    for subject in subjects:
        started = time.perf_counter()
        document = documents.invoice_document_render(invoice=subject.invoice, language=LANGUAGE)
        if time.perf_counter() - started > 1:
            print(f"Stored the PDF of the {subject.items:,}-item invoice.", flush=True)
        stored[subject.items] = document

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    results = []
    with (
        mock.patch.object(
            views, "invoice_document_render", wraps=documents.invoice_document_render
        ) as view_renders,
        mock.patch.object(documents, "render_pdf", wraps=documents.render_pdf) as renders,
    ):

        def download(path: str) -> bytes:
            response = client.get(path)
            if response.status_code != 200:
                raise BenchError(f"{path} answered {response.status_code}.")
            body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
            response.close()
            return body

        paths = {}
        query_counts = {}
        for subject in subjects:
            path = reverse("invoices:pdf", args=[subject.invoice.pk])
            with stored[subject.items].file.open("rb") as handle:
                expected = handle.read()
            with CaptureQueriesContext(connection) as queries:
                body = download(path)
            # Now: every request clears the log of queries (reset_queries on request_started).
            query_counts[subject.items] = len(queries)
            if body != expected:
                raise BenchError(f"{path} did not serve the stored PDF ({LANGUAGE}).")
            for _ in range(DOWNLOAD_WARMUPS):
                download(path)
            paths[subject.items] = path
        # The invoices take turns, so that a drift of the machine touches each alike.
        latencies: dict[int, list[float]] = {subject.items: [] for subject in subjects}
        for _ in range(count):
            for subject in subjects:
                started = time.perf_counter()
                download(paths[subject.items])
                latencies[subject.items].append(time.perf_counter() - started)
        for subject in subjects:
            document = stored[subject.items]
            rendered_at = document.rendered_at
            document.refresh_from_db()
            results.append(
                Download(
                    subject=subject,
                    median_ms=statistics.median(latencies[subject.items]) * 1000,
                    p95_ms=percentile(latencies[subject.items], 0.95) * 1000,
                    queries=query_counts[subject.items],
                    size=document.size,
                    rendered=document.rendered_at != rendered_at
                    or view_renders.called
                    or renders.called,
                )
            )
    return results


# Renders (each renderer in a fresh process per invoice; plain values cross the boundary) ----
# The three processes of an invoice live side by side and take turns, one run each in a
# rotating order, so that a drift of the machine touches every renderer alike. Only one of
# them works at a time.

# What a renderer's process keeps between its runs (set up by child_start).
_CHILD: dict[str, Any] = {}


def _peak_kb() -> int:
    """This process's peak resident memory (VmHWM) in KB.

    Not ru_maxrss: Linux carries that across exec, so a spawned process would start with the
    peak of the parent it was forked from.
    """
    status = Path("/proc/self/status").read_text()
    found = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name is in brackets and may hold spaces: the parent follows the last ")".
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def _chromium_kb() -> tuple[int, int]:
    """This process's Chromium descendants: the sum of their peak resident memory (VmHWM)
    and the sum of their proportional set size now (PSS, shared pages split), in KB."""
    children = _children()
    peak = share = 0
    pending = list(children.get(os.getpid(), []))
    while pending:
        pid = pending.pop()
        pending.extend(children.get(pid, []))
        try:
            if "chrom" not in os.readlink(f"/proc/{pid}/exe"):
                continue  # Playwright's driver (node), not the browser
            status = Path(f"/proc/{pid}/status").read_text()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue  # gone meanwhile
        hwm = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.MULTILINE)
        peak += int(hwm.group(1)) if hwm else 0
        share += int(pss.group(1)) if pss else 0
    return peak, share


def _chromium_reading() -> None:
    peak, share = _chromium_kb()
    _CHILD["peak"] = max(_CHILD.get("peak", 0), peak)
    _CHILD["pss"] = max(_CHILD.get("pss", 0), share)


def _portal_render(invoice_pk: int) -> tuple[float, float, bytes, int, str]:
    from invoices.documents import invoice_pdf_html, render_pdf
    from invoices.models import Invoice

    invoice = Invoice.objects.get(pk=invoice_pk)
    started = time.perf_counter()
    html = invoice_pdf_html(invoice, LANGUAGE)
    built = time.perf_counter()
    rendered = render_pdf(html)
    finished = time.perf_counter()
    digest = hashlib.sha256(html.encode()).hexdigest()
    return finished - started, built - started, rendered.content, rendered.pages, digest


def _weasyprint_render(html_path: str) -> tuple[float, float, bytes, int, str]:
    import weasyprint

    html = Path(html_path).read_text(encoding="utf-8")
    started = time.perf_counter()
    pdf = weasyprint.HTML(string=html).write_pdf()
    return time.perf_counter() - started, 0.0, pdf, 0, ""


def _chromium_render(html_path: str) -> tuple[float, float, bytes, int, str]:
    html = Path(html_path).read_text(encoding="utf-8")
    page = _CHILD["browser"].new_page()
    try:
        started = time.perf_counter()
        page.set_content(html)
        pdf = page.pdf(format="A4", print_background=True)
        spent = time.perf_counter() - started
        _chromium_reading()  # before the page closes, while its renderer process is there
        return spent, 0.0, pdf, 0, ""
    finally:
        page.close()


def child_start(renderer: str, warmup: int | str) -> tuple[int, str]:
    """Set the renderer up in this process and render the warm-up document once.

    Returns the peak memory before the warm-up, in KB, and an error ("" when none).
    """
    if renderer in ("portal", "weasyprint"):
        if renderer == "portal":
            setup_django()
        import weasyprint  # noqa: F401 (imported before the idle reading, as in a warm worker)

        idle = _peak_kb()
        if renderer == "portal":
            _portal_render(int(warmup))
        else:
            _weasyprint_render(str(warmup))
        return idle, ""
    if not Path(CHROMIUM).exists():
        return 0, f"{CHROMIUM} is not installed"
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    try:
        playwright = sync_playwright().start()
        _CHILD["playwright"] = playwright
        _CHILD["browser"] = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        blank = _CHILD["browser"].new_page()
        _chromium_reading()
        idle = _CHILD["peak"]
        blank.close()
        _chromium_render(str(warmup))
    except PlaywrightError as error:
        return 0, f"Chromium failed: {str(error).splitlines()[0]}"
    return idle, ""


def child_render(
    renderer: str, target: int | str, keep_pdf: bool
) -> tuple[float, float, bytes, int, str, int, int]:
    """One timed render: seconds, seconds building the HTML (the portal), the PDF when asked
    for, pages when known (the portal), the HTML's hash (the portal), the peak memory in KB
    and, for Chromium, the largest proportional set size read so far in KB."""
    if renderer == "portal":
        seconds, html_seconds, pdf, pages, digest = _portal_render(int(target))
    elif renderer == "weasyprint":
        seconds, html_seconds, pdf, pages, digest = _weasyprint_render(str(target))
    else:
        seconds, html_seconds, pdf, pages, digest = _chromium_render(str(target))
    if renderer == "chromium":
        peak, share = _CHILD["peak"], _CHILD["pss"]
    else:
        peak, share = _peak_kb(), 0
    return seconds, html_seconds, pdf if keep_pdf else b"", pages, digest, peak, share


def child_stop(renderer: str) -> None:
    """Close what the renderer opened (the database connection, the browser), also when it
    failed to start."""
    if renderer == "portal":
        from django.db import connections

        connections.close_all()
    if "browser" in _CHILD:
        _CHILD.pop("browser").close()
    if "playwright" in _CHILD:
        _CHILD.pop("playwright").stop()


def _pdf_pages(pdf: bytes) -> int:
    from pypdf import PdfReader

    return len(PdfReader(io.BytesIO(pdf)).pages)


@dataclass(frozen=True)
class Measurement:
    subject: Subject
    renderer: str
    median_s: float
    html_s: float | None
    pages: int
    idle_mb: float
    peak_mb: float
    first_peak_mb: float  # after the warm-up and the first run
    pss_mb: float  # Chromium only: the largest sum of its processes' PSS read
    runs: int
    error: str = ""

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.median_s if self.median_s else 0.0


@dataclass
class _Run:
    """One renderer's process for one invoice, and what its runs gave."""

    renderer: str
    process: ProcessPoolExecutor
    target: int | str
    idle_kb: int = 0
    peaks_kb: list[int] = field(default_factory=list)
    pss_kb: int = 0
    error: str = ""
    seconds: list[float] = field(default_factory=list)
    html_seconds: list[float] = field(default_factory=list)
    pages: int = 0
    pdf: bytes = b""

    def call[T](self, function: Callable[..., T], *arguments: object) -> T:
        try:
            return self.process.submit(function, *arguments).result(timeout=CHILD_TIMEOUT)
        except TimeoutError as error:
            raise BenchError(
                f"{RENDERER_LABELS[self.renderer]} took over {CHILD_TIMEOUT:.0f} s."
            ) from error


@contextmanager
def html_files(subjects: Sequence[Subject]) -> Iterator[dict[int, tuple[Path, str]]]:
    """Each invoice's PDF HTML as the portal builds it, in a temporary file, with its hash."""
    from invoices.documents import invoice_pdf_html

    with tempfile.TemporaryDirectory(prefix="bench-documents-") as folder:
        files = {}
        for subject in subjects:
            html = invoice_pdf_html(subject.invoice, LANGUAGE)
            path = Path(folder) / f"invoice-{subject.items}.html"
            path.write_text(html, encoding="utf-8")
            files[subject.items] = (path, hashlib.sha256(html.encode()).hexdigest())
        yield files


def measure_invoice(
    subject: Subject, html: tuple[Path, str], warmup: tuple[int, str], runs: int, keep_pdf: bool
) -> tuple[list[Measurement], bytes]:
    """The invoice with each renderer, each in a fresh process; the runs take turns."""
    path, digest = html
    spawn = multiprocessing.get_context("spawn")
    with ExitStack() as stack:
        processes = {
            renderer: _Run(
                renderer=renderer,
                process=stack.enter_context(ProcessPoolExecutor(1, mp_context=spawn)),
                target=subject.invoice.pk if renderer == "portal" else str(path),
            )
            for renderer in RENDERERS
        }
        for run in processes.values():
            run.idle_kb, run.error = run.call(
                child_start, run.renderer, warmup[0] if run.renderer == "portal" else warmup[1]
            )
        working = [run for run in processes.values() if not run.error]
        for index in range(runs if working else 0):
            shift = index % len(working)
            for run in [*working[shift:], *working[:shift]]:
                first = not run.seconds
                seconds, html_seconds, pdf, pages, html_digest, peak, share = run.call(
                    child_render, run.renderer, run.target, first or keep_pdf
                )
                if run.renderer == "portal" and html_digest != digest:
                    raise BenchError(f"The portal built other HTML for {subject.label}.")
                run.seconds.append(seconds)
                run.html_seconds.append(html_seconds)
                run.peaks_kb.append(peak)
                run.pss_kb = share
                if first:
                    run.pages = pages or _pdf_pages(pdf)
                if keep_pdf and run.renderer == "portal":
                    run.pdf = pdf
        for run in processes.values():
            run.call(child_stop, run.renderer)

    measurements = [
        Measurement(
            subject=subject,
            renderer=run.renderer,
            median_s=statistics.median(run.seconds) if run.seconds else 0.0,
            html_s=statistics.median(run.html_seconds) if run.renderer == "portal" else None,
            pages=run.pages,
            idle_mb=run.idle_kb / 1024,
            peak_mb=max(run.peaks_kb, default=0) / 1024,
            first_peak_mb=run.peaks_kb[0] / 1024 if run.peaks_kb else 0.0,
            pss_mb=run.pss_kb / 1024,
            runs=len(run.seconds),
            error=run.error,
        )
        for run in processes.values()
    ]
    return measurements, processes["portal"].pdf


def measure_renders(
    subjects: Sequence[Subject], repetitions: int | None
) -> tuple[list[Measurement], bytes]:
    """Every invoice with every renderer; also the portal's PDF of the largest invoice."""
    from django.db import connections

    warmup = subjects[0]
    largest = max(subjects, key=lambda subject: subject.items)
    measurements: list[Measurement] = []
    largest_pdf = b""
    with html_files(subjects) as files:
        connections.close_all()  # the portal's processes open their own
        for subject in subjects:
            runs = repetitions or REPETITIONS[subject.items]
            print(f"Rendering {subject.label}, {runs} runs of each renderer…", flush=True)
            found, pdf = measure_invoice(
                subject,
                files[subject.items],
                (warmup.invoice.pk, str(files[warmup.items][0])),
                runs,
                keep_pdf=subject is largest,
            )
            measurements.extend(found)
            if subject is largest:
                largest_pdf = pdf
    return measurements, largest_pdf


# Rows per page ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Density:
    per_page: list[int]  # summary rows on each page, from the first
    full_pages: list[int]  # of those, the pages with summary rows only
    pages: int
    a4: bool

    @property
    def median(self) -> float:
        return statistics.median(self.full_pages) if self.full_pages else 0.0


def summary_rows_per_page(pdf: bytes, items: int) -> Density:
    """How many item summary rows each page of the PDF holds.

    A summary row's text starts with its number (1, 2, …) in the "#" column, whose left edge
    is that of the table's "#" heading; the numbers are looked for in order, so that other
    numbers (an address, the detail section) are not counted.
    """
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    column: float | None = None
    expected = 1
    per_page = []
    for page in reader.pages:
        fragments: list[tuple[float, str]] = []

        def visit(
            text: str,
            cm: list[float],
            tm: list[float],
            font: object,
            size: object,
            fragments: list[tuple[float, str]] = fragments,
        ) -> None:
            if text.strip():
                fragments.append((tm[4] * cm[0] + tm[5] * cm[2] + cm[4], text.strip()))

        page.extract_text(visitor_text=visit)
        if column is None:
            column = next((x for x, text in fragments if text.startswith("#")), None)
        count = 0
        for x, text in fragments:
            if expected > items or column is None or abs(x - column) > 2:
                continue
            number = re.match(r"\d+", text)
            if number and int(number.group()) == expected:
                count += 1
                expected += 1
        per_page.append(count)
    if expected != items + 1:
        raise BenchError(f"Found {expected - 1} of {items} summary rows in the PDF.")
    holding = [index for index, count in enumerate(per_page) if count]
    full = [per_page[index] for index in holding[1:-1]]
    width, height = (float(value) for value in reader.pages[0].mediabox[2:])
    a4 = abs(width - 595.28) < 2 and abs(height - 841.89) < 2
    return Density(per_page=per_page, full_pages=full, pages=len(per_page), a4=a4)


# The report ---------------------------------------------------------------------------------


def worker_max_tasks_per_child() -> int | None:
    from portal.celery import app

    value = app.conf.worker_max_tasks_per_child
    return int(value) if value else None


def report(
    measurements: Sequence[Measurement],
    downloads: Sequence[Download],
    density: Density | None,
    density_note: str,
) -> None:
    bare = {m.subject.items: m for m in measurements if m.renderer == "weasyprint" and not m.error}
    width = max(len(m.subject.label) for m in measurements)
    print(
        f"{'document':<{width}}  {'renderer':<15}  {'median s':>8}  {'HTML s':>6}  "
        f"{'pages':>5}  {'pages/s':>7}  {'idle MB':>7}  {'peak MB':>7}  {'vs bare':>7}"
    )
    previous = None
    for m in measurements:
        label = m.subject.label if m.subject is not previous else ""
        previous = m.subject
        name = RENDERER_LABELS[m.renderer]
        if m.error:
            print(f"{label:<{width}}  {name:<15}  n/a: {m.error}")
            continue
        base = bare.get(m.subject.items)
        ratio = f"{m.median_s / base.median_s:.2f}x" if base else "n/a"
        html = f"{m.html_s:.3f}" if m.html_s is not None else ""
        print(
            f"{label:<{width}}  {name:<15}  {m.median_s:>8.3f}  {html:>6}  {m.pages:>5}"
            f"  {m.pages_per_second:>7.1f}  {m.idle_mb:>7.0f}  {m.peak_mb:>7.0f}  {ratio:>7}"
        )
    chromium = [m for m in measurements if m.renderer == "chromium" and not m.error]
    if chromium:
        shares = " / ".join(f"{m.pss_mb:.0f}" for m in chromium)
        print(
            "\nChromium: idle and peak MB add up each Chromium process's own peak (VmHWM), "
            "which counts shared pages once per process; their proportional share (PSS), "
            f"read after each PDF, came to at most {shares} MB. Its PDFs lack the page "
            "counter and title of the page margins (WeasyPrint's paged-media extras)."
        )

    print(f"\nDownload, GET /billing/invoices/<pk>/pdf/ in-process, {LANGUAGE}:")
    for d in downloads:
        print(
            f"  {d.subject.label:<{width}}  median {d.median_ms:.1f} ms, p95 {d.p95_ms:.1f} ms,"
            f" {d.size / 1024:,.0f} KB, {d.queries} SQL queries,"
            f" {'RENDERED on the request path' if d.rendered else 'served from storage'}"
        )

    if density is not None:
        spread = (
            f"{min(density.full_pages)}–{max(density.full_pages)}" if density.full_pages else "-"
        )
        holding = [count for count in density.per_page if count]
        print(
            f"\nRows per page, the portal's PDF of the {SIZES[-1]:,}-item invoice"
            f" ({'A4' if density.a4 else 'not A4'}, {density.pages} pages): the summary takes"
            f" {len(holding)} pages, {holding[0]} rows on the first (under the header),"
            f" a median of {density.median:.0f} on the {len(density.full_pages)} full ones"
            f" (range {spread}) and {holding[-1]} on the last (with the totals)."
        )
    elif density_note:
        print(f"\n{density_note}")

    print_aims(aims(measurements, downloads, density))


def aims(
    measurements: Sequence[Measurement], downloads: Sequence[Download], density: Density | None
) -> list[tuple[bool, str]]:
    """The issue's aims: whether each is met, and what was measured."""
    bare = {m.subject.items: m for m in measurements if m.renderer == "weasyprint" and not m.error}
    portal = [m for m in measurements if m.renderer == "portal" and not m.error]
    ratios = [
        m.median_s / bare[m.subject.items].median_s for m in portal if m.subject.items in bare
    ]
    ratio_text = ", ".join(
        f"{m.subject.items:,} items {ratio:.2f}x" for m, ratio in zip(portal, ratios, strict=True)
    )
    found: list[tuple[bool, str]] = [
        (
            bool(ratios) and max(ratios) <= MAX_PORTAL_TO_BARE,
            f"the portal's render costs at most {MAX_PORTAL_TO_BARE}x bare WeasyPrint on the"
            f" same HTML, median ({ratio_text or 'not measured'})",
        )
    ]

    dense = f"{MIN_ROWS_PER_PAGE} or more item rows per A4 page"
    if density is None:
        found.append((False, f"{dense} (not counted)"))
    else:
        found.append(
            (
                density.a4 and density.median >= MIN_ROWS_PER_PAGE,
                f"{dense} ({density.median:.0f} summary rows on a full page"
                f"{'' if density.a4 else ', and the page is not A4'})",
            )
        )

    max_tasks = worker_max_tasks_per_child()
    recycled = (
        f"a worker recycled after CELERY_WORKER_MAX_TASKS_PER_CHILD = {max_tasks} tasks"
        if max_tasks
        else "a worker that is never recycled (CELERY_WORKER_MAX_TASKS_PER_CHILD unset)"
    )
    largest = max(portal, key=lambda m: m.subject.items, default=None)
    memory = f"{SIZES[-1]:,} items under {MAX_PEAK_MB:.0f} MB peak memory in {recycled}"
    if largest is None:
        found.append((False, f"{memory} (not measured)"))
    else:
        found.append(
            (
                largest.peak_mb < MAX_PEAK_MB and bool(max_tasks),
                f"{memory} (the portal's process: {largest.first_peak_mb:.0f} MB after a"
                f" warm-up and one render, {largest.peak_mb:.0f} MB after {largest.runs})",
            )
        )

    slowest = max((d.median_ms for d in downloads), default=float("inf"))
    rendered = any(d.rendered for d in downloads)
    found.append(
        (
            bool(downloads) and not rendered and slowest < MAX_DOWNLOAD_MS,
            f"downloading never renders, served from storage in under {MAX_DOWNLOAD_MS:.0f} ms"
            f" median ({'a download rendered' if rendered else 'no render'}; slowest median"
            f" {slowest:.2f} ms)",
        )
    )
    return found


# Main ---------------------------------------------------------------------------------------


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--repetitions",
        type=int,
        default=None,
        help="renders of every invoice per renderer (default: 15, 5 and 3 by size)",
    )
    parser.add_argument(
        "--downloads", type=int, default=DOWNLOADS, help="timed downloads per invoice"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    started = time.perf_counter()
    env = bench_environment(MEDIA_ROOT=str(DEFAULT_MEDIA_ROOT))
    use_environment(env)
    name = ensure_database(env["DATABASE_URL"])
    setup_django()
    migrate()
    print(f"Using {name}; PDFs stored under {os.environ['MEDIA_ROOT']}.", flush=True)

    user, account = bench_account()
    subjects = ensure_invoices(account)
    downloads = measure_downloads(user, subjects, arguments.downloads)
    measurements, largest_pdf = measure_renders(subjects, arguments.repetitions)

    density: Density | None = None
    note = ""
    largest = max(subjects, key=lambda subject: subject.items)
    if largest_pdf:
        try:
            density = summary_rows_per_page(largest_pdf, largest.items)
        except BenchError as error:
            pages = _pdf_pages(largest_pdf)
            note = (
                f"Rows per page not counted ({error}); top-level rows over all pages, a "
                f"lower bound (the detail section's pages count too): {largest.items / pages:.0f}."
            )

    print(
        f"\nInvoices of {COMPANY}, One-time, USD, {LANGUAGE}; about "
        f"{DETAIL_SHARE:.0%} of the items have 2–4 detail items"
        f" ({', '.join(f'{s.items:,}: {s.with_details}' for s in subjects)}).\n"
    )
    report(measurements, downloads, density, note)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    run_main(main)
