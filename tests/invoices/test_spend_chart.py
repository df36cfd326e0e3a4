"""The Invoices page's spend chart: twelve months of charges by category, per currency."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal as D
from typing import TYPE_CHECKING

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from accounts.models import Account
from invoices.models import Invoice, InvoiceItem
from invoices.services import ItemSpec, invoice_issue_credit, invoice_issue_one_time
from invoices.spend import spend_by_month, spend_charts

if TYPE_CHECKING:
    from django.test import Client

pytestmark = pytest.mark.django_db

LIST = reverse("invoices:list")
TODAY = date(2026, 12, 1)


def _charge(account: Account, on: date, *items: tuple[str, str], currency: str = "USD") -> Invoice:
    return invoice_issue_one_time(
        account=account,
        currency=currency,
        issue_date=on,
        items=[ItemSpec(description=c or "Misc", category=c, unit_price=D(p)) for c, p in items],
    )


def test_it_sums_twelve_months_by_category_with_empty_months_as_zero(account: Account) -> None:
    _charge(account, date(2026, 1, 5), ("Server", "100.00"), ("Network", "20.00"))
    _charge(account, date(2026, 1, 20), ("Server", "50.00"))
    _charge(account, date(2026, 12, 1), ("Storage", "7.50"))
    # Thirteen months ago: outside the window.
    _charge(account, date(2025, 11, 30), ("Server", "999.00"))
    [chart] = spend_charts(account, today=TODAY)
    assert chart.currency == "USD"
    assert [m.start for m in chart.months] == [date(2026, m, 1) for m in range(1, 13)]
    assert [s.name for s in chart.series] == ["Server", "Network", "Storage"]
    january, december = chart.months[0], chart.months[-1]
    assert january.amounts == [D("150.00"), D("20.00"), D("0.00")]
    assert december.amounts == [D("0.00"), D("0.00"), D("7.50")]
    assert all(m.total == 0 and m.cells == ["$0.00"] * 3 for m in chart.months[1:11])
    assert chart.total == D("177.50")
    assert [s.total for s in chart.series] == [D("150.00"), D("20.00"), D("7.50")]


def test_detail_items_count_once_and_credits_are_not_charges(account: Account) -> None:
    invoice = invoice_issue_one_time(
        account=account,
        issue_date=date(2026, 11, 2),
        items=[
            ItemSpec(
                description="Bandwidth",
                category="Network",
                details=[
                    ItemSpec(description="Port 1", category="Network", unit_price=D("30.00")),
                    ItemSpec(description="Port 2", category="Network", unit_price=D("10.00")),
                ],
            )
        ],
    )
    assert InvoiceItem.objects.filter(invoice=invoice).count() == 3
    invoice_issue_credit(
        original=invoice, amount=D("5.00"), reason="Outage", issue_date=date(2026, 11, 3)
    )
    [chart] = spend_charts(account, today=TODAY)
    assert chart.months[-2].amounts == [D("40.00")]


def test_each_currency_has_its_own_chart_the_accounts_first(account: Account) -> None:
    _charge(account, date(2026, 6, 1), ("Server", "10.00"), currency="CNY")
    _charge(account, date(2026, 6, 1), ("Server", "10.00"), currency="USD")
    charts = spend_charts(account, today=TODAY)
    assert [c.currency for c in charts] == [
        account.currency,
        *(c for c in ["CNY", "USD"] if c != account.currency),
    ]
    assert all(c.total == D("10.00") for c in charts)


def test_another_accounts_charges_are_not_counted(account: Account, other_account: Account) -> None:
    _charge(other_account, date(2026, 6, 1), ("Server", "10.00"))
    assert spend_charts(account, today=TODAY) == []


def test_more_categories_than_colours_fold_into_other(account: Account) -> None:
    items = [(f"Cat{n}", f"{10 - n}.00") for n in range(9)] + [("", "1.00")]
    _charge(account, date(2026, 12, 1), *items)
    [chart] = spend_charts(account, today=TODAY)
    assert [s.name for s in chart.series] == [f"Cat{n}" for n in range(6)] + ["Other"]
    assert chart.months[-1].amounts[-1] == D("4.00") + D("3.00") + D("2.00") + D("1.00")
    assert chart.total == sum(D(p) for _c, p in items)


def test_items_without_a_category_are_other_and_come_last(account: Account) -> None:
    _charge(account, date(2026, 12, 1), ("", "50.00"), ("Server", "10.00"))
    [chart] = spend_charts(account, today=TODAY)
    assert [s.name for s in chart.series] == ["Server", "Other"]
    assert chart.months[-1].amounts == [D("10.00"), D("50.00")]


def test_the_axis_is_round_and_reaches_the_highest_month(account: Account) -> None:
    _charge(account, date(2026, 3, 1), ("Server", "1234.56"))
    [chart] = spend_charts(account, today=TODAY)
    assert [t.label for t in chart.ticks] == ["$0.00", "$500.00", "$1,000.00", "$1,500.00"]
    [segment] = chart.months[2].segments
    # The bar stands on the baseline and is as tall as its share of the axis.
    assert segment.y + segment.height == pytest.approx(chart.baseline)
    top = chart.ticks[-1].y
    assert segment.height == pytest.approx((chart.baseline - top) * 1234.56 / 1500)


def test_the_page_draws_an_accessible_svg_and_the_same_figures_as_a_table(
    owner_client: Client, account: Account
) -> None:
    _charge(account, date(2026, 1, 5), ("Server", "100.00"), ("Network", "20.00"))
    with translation.override("en"):
        html = owner_client.get(LIST).content.decode()
    svg = re.search(r"<svg class=\"chart\"[^>]*>", html)
    assert svg is not None and 'role="img"' in svg.group(0)
    labelled = re.search(r'aria-labelledby="([^"]+)"', svg.group(0))
    assert labelled is not None
    title_id, desc_id = labelled.group(1).split()
    assert re.search(rf'<title id="{title_id}">Charges by category, last 12 months', html)
    assert re.search(rf'<desc id="{desc_id}">Stacked bars', html)
    assert "<script" not in html.split('data-testid="spend-chart"')[1].split("</section>")[0]
    table = html.split('data-testid="spend-table-')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + 12 + 1  # header, twelve months, the totals
    assert "$100.00" in table and "$120.00" in table


def test_no_charges_says_so(owner_client: Client) -> None:
    html = owner_client.get(LIST).content.decode()
    assert "Nothing was charged in the last 12 months." in html


def test_it_reads_in_chinese(account: Account) -> None:
    _charge(account, date(2026, 12, 1), ("网络", "800.00"), currency="CNY")
    with translation.override("zh-hans"):
        chart = next(c for c in spend_charts(account, today=TODAY) if c.currency == "CNY")
        assert chart.months[-1].short == "12月"
        assert chart.months[0].year == "2026年"
        assert chart.months[-1].long == "2026年12月"
        assert chart.title == "按类别的费用，最近 12 个月（CNY）"
        assert chart.ticks[-1].label.startswith("¥")


def test_the_chart_is_one_query_and_the_page_costs_the_same_for_10_and_many_invoices(
    owner_client: Client, account: Account
) -> None:
    for n in range(10):
        _charge(account, date(2026, 1 + n, 3), ("Server", "10.00"), ("Network", "1.00"))
    with CaptureQueriesContext(connection) as chart_queries:
        spend_by_month(account, today=TODAY)
    assert len(chart_queries) == 1
    with CaptureQueriesContext(connection) as few:
        assert owner_client.get(LIST).status_code == 200
    _bulk(account, 600)
    with CaptureQueriesContext(connection) as many:
        response = owner_client.get(LIST)
    assert response.status_code == 200
    assert len(few) == len(many)
    assert response.context["spend_charts"][0].total > D("110.00")


def _bulk(account: Account, count: int) -> None:
    """Many charge invoices with items, fast: rows as the service writes them."""
    template = Invoice.objects.filter(account=account).first()
    assert template is not None
    invoices = Invoice.objects.bulk_create(
        Invoice(
            account=account,
            number=f"SPEND-{n:06d}",
            type=Invoice.Type.RECURRING,
            state=Invoice.State.PAID,
            issue_date=date(2026, 1 + n % 12, 1 + n % 28),
            due_date=date(2026, 12, 31),
            currency="USD",
            subtotal=D("3.00"),
            tax=D("0"),
            total=D("3.00"),
            balance=D("0"),
            seller_name=template.seller_name,
            seller_address=template.seller_address,
            buyer_name=template.buyer_name,
            buyer_address=template.buyer_address,
            buyer_country="CN",
        )
        for n in range(count)
    )
    InvoiceItem.objects.bulk_create(
        InvoiceItem(
            invoice=invoice,
            position=position,
            description=category,
            category=category,
            unit_price=D("1.00"),
            amount=D("1.00"),
        )
        for invoice in invoices
        for position, category in enumerate(["Server", "Storage", "Backup"], 1)
    )
