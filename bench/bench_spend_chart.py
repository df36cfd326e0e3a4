"""The Invoices page's spend chart over the benchmark's big account: what the chart costs.

Run it with `make bench`, or on its own from the repository's root:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal_bench \\
        python3 -m uv run --frozen python -m bench.bench_spend_chart

It uses the data of `bench.bench_invoices` (the same database, built by the same code and
reused when already there, then ANALYZEd as autovacuum would have): one account with 10,000
invoices and 200,000 items over ten years, about 900 charge invoices and 8,000 top-level
items in the chart's last twelve months. In-process, with the signed-in test client:

1. The chart's aggregate alone (`invoices.spend.spend_charts`): its SQL queries, the median
   and 95th percentile of its time over `--runs` calls, and PostgreSQL's plan of the query
   (`EXPLAIN (ANALYZE)`: the execution time and how it reads the rows).
2. The Invoices page with its chart and, for comparison, the same page with the chart left
   out (the view's `spend_charts` replaced by one that draws nothing, for this measurement
   only): SQL queries and median time of each, and the difference, which is what the chart
   adds to every request of the page.

The load test of the page under gunicorn, with the chart, is `bench.bench_invoices`'s
"Invoices" row. A MISS below is a result, not a failure: the script exits 0 unless something
broke.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

from bench.bench_invoices import ensure_data
from bench.harness.common import (
    BenchError,
    argument_parser,
    bench_environment,
    own_database_url,
    percentile,
    print_aims,
    run_main,
    setup_django,
    use_environment,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

RUNS = 30
# The aims: the chart is one query whatever the account's size, and costs the page little.
CHART_QUERIES = 1
MAX_CHART_MEDIAN_MS = 150.0


def _times(call: Callable[[], Any], runs: int) -> list[float]:
    call()  # warm-up: caches, the plan, the connection
    times = []
    for _run in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


@contextmanager
def _without_chart() -> Iterator[None]:
    """The Invoices view with no chart: the baseline the chart's cost is measured against."""
    with mock.patch("invoices.views.spend_charts", lambda account, *, today: []):
        yield


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argument_parser(__doc__)
    parser.add_argument("--runs", type=int, default=RUNS, help="timed calls of each measurement")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    env = bench_environment()
    use_environment(env)
    url, name = own_database_url(env["DATABASE_URL"], "")
    setup_django()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from invoices.models import Invoice, InvoiceItem
    from invoices.spend import _month_starts, spend_by_month, spend_charts

    user, account = ensure_data(url, name)
    # The statistics autovacuum keeps on a live database: a freshly built one has none, and
    # the planner then probes every item of the account's ten years once per invoice (1.3 s).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invoices_invoice, invoices_invoiceitem")
    today = timezone.localdate()
    first = _month_starts(today)[0]
    invoices = Invoice.objects.filter(
        account=account, type__in=Invoice.CHARGE_TYPES, issue_date__gte=first
    ).count()
    items = InvoiceItem.objects.filter(
        invoice__account=account,
        invoice__type__in=Invoice.CHARGE_TYPES,
        invoice__issue_date__gte=first,
        parent__isnull=True,
    ).count()
    print(
        f"{Invoice.objects.filter(account=account).count():,} invoices; the chart's 12 months "
        f"(from {first}) hold {invoices:,} charge invoices and {items:,} top-level items.\n"
    )

    # A request resets the connection's query log (Django's request_started): each count is
    # taken from an empty log, and read at once.
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        charts = spend_charts(account, today=today)
    chart_queries = [q["sql"] for q in captured.captured_queries]
    if not charts or len(chart_queries) != 1:
        raise BenchError(f"The chart made {len(chart_queries)} queries and {len(charts)} charts.")
    chart_times = _times(lambda: spend_charts(account, today=today), arguments.runs)
    [query] = chart_queries
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT TEXT) {query}")
        plan = [row[0] for row in cursor.fetchall()]
    groups = sum(len(sums) for sums in spend_by_month(account, today=today).values())

    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    def page() -> None:
        response = client.get("/billing/invoices/")
        if response.status_code != 200:
            raise BenchError(f"/billing/invoices/ answered {response.status_code} in-process.")

    def page_queries() -> int:
        reset_queries()
        with CaptureQueriesContext(connection) as captured:
            page()
        return len(captured)

    with_queries = page_queries()
    with_times = _times(page, arguments.runs)
    with _without_chart():
        without_queries = page_queries()
        without_times = _times(page, arguments.runs)

    chart_median = statistics.median(chart_times)
    with_median, without_median = statistics.median(with_times), statistics.median(without_times)
    print(f"{'measured':<34}  {'SQL':>3}  {'median ms':>9}  {'p95 ms':>7}")
    for label, queries, times in (
        ("spend chart (aggregate + drawing)", len(chart_queries), chart_times),
        ("Invoices page with the chart", with_queries, with_times),
        ("Invoices page without the chart", without_queries, without_times),
    ):
        print(
            f"{label:<34}  {queries:>3}  {statistics.median(times):>9.1f}"
            f"  {percentile(times, 0.95):>7.1f}"
        )
    print(
        f"\nThe chart adds {with_median - without_median:.1f} ms to the page's median "
        f"({len(charts)} currencies, {groups} month-and-category sums).\n"
    )
    print("PostgreSQL's plan of the chart's query:")
    for line in plan:
        if "Execution Time" in line or "Scan" in line or "Aggregate" in line:
            print(f"  {line.strip()}")
    print()
    print_aims(
        [
            (
                len(chart_queries) == CHART_QUERIES,
                f"the chart is {CHART_QUERIES} SQL query ({len(chart_queries)})",
            ),
            (
                chart_median < MAX_CHART_MEDIAN_MS,
                f"the chart under {MAX_CHART_MEDIAN_MS:.0f} ms median over "
                f"{invoices:,} invoices in its months ({chart_median:.1f} ms)",
            ),
            (
                with_queries == without_queries + CHART_QUERIES,
                f"the chart adds {CHART_QUERIES} SQL query to the Invoices page "
                f"({without_queries} without it, {with_queries} with it)",
            ),
        ]
    )
    return 0


if __name__ == "__main__":
    run_main(main)
