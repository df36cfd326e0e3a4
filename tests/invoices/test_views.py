from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Account, User
from invoices.models import Invoice, InvoiceItem, RecurringCharge
from invoices.services import (
    ItemSpec,
    invoice_issue_credit,
    invoice_issue_one_time,
    recurring_run_account,
)

D = Decimal
pytestmark = pytest.mark.django_db
LIST = reverse("invoices:list")


def _bulk_invoices(account: Account, count: int) -> None:
    """Many invoices, fast: rows as the service would write them (the service is tested)."""
    template = invoice_issue_one_time(
        account=account, items=[ItemSpec(description="Seed", unit_price=D("1.00"))]
    )
    rows = []
    start = Invoice.objects.count()
    for n in range(start, start + count - 1):
        rows.append(
            Invoice(
                account=account,
                number=f"BULK-{n:06d}",
                type=Invoice.Type.ONE_TIME,
                state=Invoice.State.OPEN,
                issue_date=date(2020, 1, 1),
                due_date=date(2020, 1, 31),
                currency="USD",
                subtotal=D("1.00"),
                tax=D("0"),
                total=D("1.00"),
                balance=D("1.00"),
                seller_name=template.seller_name,
                seller_address=template.seller_address,
                buyer_name=template.buyer_name,
                buyer_address=template.buyer_address,
                buyer_country="CN",
            )
        )
    Invoice.objects.bulk_create(rows)


def test_the_list_shows_each_invoice_with_its_money_in_its_currency(
    owner_client: Client, account: Account, issue
) -> None:
    usd = issue(account, "1234.50", on=date(2026, 9, 1))
    cny = issue(account, "88.00", currency="CNY", on=date(2026, 10, 1))
    body = owner_client.get(LIST).content.decode()
    assert usd.number in body and cny.number in body
    assert "$1,234.50" in body
    assert "CN¥88.00" in body
    assert body.index(cny.number) < body.index(usd.number)  # newest first
    assert "One-time" in body


def test_the_summary_keeps_a_balance_per_currency(
    owner_client: Client, account: Account, issue
) -> None:
    issue(account, "100.00")
    issue(account, "50.00", on=date(2026, 10, 2))
    issue(account, "88.00", currency="CNY")
    response = owner_client.get(LIST)
    summary = {line.currency: line for line in response.context["summary"].currencies}
    assert summary["USD"].balance == D("150.00")
    assert summary["CNY"].balance == D("88.00")
    body = response.content.decode()
    assert "Current balance (USD)" in body
    assert "Pay Balance" in body
    assert reverse("payments:pay") in body


def test_the_summary_estimates_the_next_balance_and_the_recurring_dates(
    owner_client: Client, account: Account, server_charge: RecurringCharge
) -> None:
    recurring_run_account(account=account, day=date(2026, 10, 10))
    recurring_run_account(account=account, day=date(2026, 11, 1))
    summary = owner_client.get(LIST).context["summary"]
    [usd] = summary.currencies
    assert usd.balance == D("170.97")
    assert usd.estimated_next_balance == D("270.97")
    assert summary.previous_recurring_date == date(2026, 11, 1)
    assert summary.next_recurring_date is not None
    assert summary.next_recurring_date.day == account.billing_day


def test_the_list_filters_by_type_and_date_range(
    owner_client: Client, account: Account, issue
) -> None:
    september = issue(account, "10.00", on=date(2026, 9, 15))
    october = issue(account, "20.00", on=date(2026, 10, 15))
    credit = invoice_issue_credit(
        original=october, amount=D("5.00"), reason="x", issue_date=date(2026, 10, 20)
    )

    response = owner_client.get(LIST, {"type": ["credit"]})
    numbers = [i.number for i in response.context["page"].object_list]
    assert numbers == [credit.number]

    response = owner_client.get(LIST, {"date_from": "2026-09-01", "date_to": "2026-09-30"})
    numbers = [i.number for i in response.context["page"].object_list]
    assert numbers == [september.number]


def test_a_backwards_date_range_is_explained_and_filters_nothing(
    owner_client: Client, account: Account, issue
) -> None:
    issue(account)
    response = owner_client.get(LIST, {"date_from": "2026-10-31", "date_to": "2026-10-01"})
    assert "The end date is before the start date." in response.content.decode()
    assert len(response.context["page"].object_list) == 1


def test_the_list_is_paginated_and_a_bad_page_number_shows_a_real_page(
    owner_client: Client, account: Account, settings
) -> None:
    settings.INVOICES_PER_PAGE = 10
    _bulk_invoices(account, 25)
    page = owner_client.get(LIST, {"page": 3}).context["page"]
    assert page.number == 3 and len(page.object_list) == 5
    assert owner_client.get(LIST, {"page": "999"}).context["page"].number == 3
    assert owner_client.get(LIST, {"page": "abc"}).context["page"].number == 1


def test_the_list_costs_the_same_queries_for_5_and_500_invoices(
    owner_client: Client, account: Account
) -> None:
    _bulk_invoices(account, 5)
    with CaptureQueriesContext(connection) as few:
        assert owner_client.get(LIST).status_code == 200
    _bulk_invoices(account, 495)
    with CaptureQueriesContext(connection) as many:
        assert owner_client.get(LIST, {"page": "2"}).status_code == 200
    assert len(few) == len(many)
    # The session, the user, the current account, the page's own queries (the spend chart's
    # one among them, and whether anything is owed, for "Pay Balance"), and one that asks
    # whether this password-only session owes a second factor (accounts.middleware).
    assert len(many) <= 11


def test_a_viewer_sees_the_invoices_too(viewer_client: Client, account: Account, issue) -> None:
    invoice = issue(account)
    assert invoice.number in viewer_client.get(LIST).content.decode()
    assert viewer_client.get(reverse("invoices:detail", args=[invoice.pk])).status_code == 200


def test_a_strangers_invoice_is_a_404(
    client: Client, stranger: User, account: Account, issue
) -> None:
    invoice = issue(account)
    item = invoice.items.get()
    client.force_login(stranger)
    assert client.get(reverse("invoices:detail", args=[invoice.pk])).status_code == 404
    url = reverse("invoices:item", args=[invoice.pk, item.pk])
    assert client.get(url).status_code == 404
    assert invoice.number not in client.get(LIST).content.decode()


def _server_invoice(account: Account, server_charge: RecurringCharge) -> Invoice:
    return recurring_run_account(account=account, day=date(2026, 10, 10)).new[0]


def test_the_invoice_page_shows_header_items_totals_and_relations(
    owner_client: Client, account: Account, server_charge: RecurringCharge
) -> None:
    invoice = _server_invoice(account, server_charge)
    credit = invoice_issue_credit(original=invoice, amount=D("10.00"), reason="SLA")
    body = owner_client.get(reverse("invoices:detail", args=[invoice.pk])).content.decode()
    assert invoice.number in body
    assert "Example Hosting Ltd" in body
    assert "上海云帆科技有限公司" in body
    assert "Bare Metal Server" in body and "db01.example.com" in body
    assert "$70.97" in body
    assert credit.number in body
    assert "CPU" not in body  # details stay folded until asked for

    credit_page = owner_client.get(reverse("invoices:detail", args=[credit.pk])).content.decode()
    assert invoice.number in credit_page


def test_without_javascript_a_row_link_reloads_the_page_with_the_details(
    owner_client: Client, account: Account, server_charge: RecurringCharge
) -> None:
    invoice = _server_invoice(account, server_charge)
    item = invoice.items.get(parent=None)
    url = reverse("invoices:detail", args=[invoice.pk])
    body = owner_client.get(url).content.decode()
    assert f'href="?expand={item.pk}#item-{item.pk}"' in body
    body = owner_client.get(url, {"expand": item.pk}).content.decode()
    for text in ("CPU", "RAM", "Disk", "$42.58"):
        assert text in body


def test_htmx_fetches_one_items_rows_expanded_or_collapsed(
    owner_client: Client, account: Account, server_charge: RecurringCharge
) -> None:
    invoice = _server_invoice(account, server_charge)
    item = invoice.items.get(parent=None)
    url = reverse("invoices:item", args=[invoice.pk, item.pk])
    body = owner_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert body.startswith(f'<tbody id="item-{item.pk}"')
    assert "CPU" in body and 'aria-expanded="true"' in body
    collapsed = owner_client.get(url, {"collapse": "1"}, HTTP_HX_REQUEST="true")
    assert "CPU" not in collapsed.content.decode()

    detail = InvoiceItem.objects.filter(parent=item).first()
    assert (
        owner_client.get(reverse("invoices:item", args=[invoice.pk, detail.pk])).status_code == 404
    )


def test_the_invoice_page_costs_the_same_queries_for_5_and_500_items(
    owner_client: Client, account: Account
) -> None:
    def invoice_with(count: int) -> Invoice:
        return invoice_issue_one_time(
            account=account,
            items=[
                ItemSpec(
                    description=f"Item {n}",
                    details=(ItemSpec(description="d", unit_price=D("1.00")),),
                )
                for n in range(count)
            ],
        )

    small, large = invoice_with(5), invoice_with(500)
    counts = []
    for invoice in (small, large):
        first = invoice.items.filter(parent=None).order_by("position").first()
        with CaptureQueriesContext(connection) as queries:
            response = owner_client.get(
                reverse("invoices:detail", args=[invoice.pk]), {"expand": first.pk}
            )
            assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    assert counts[1] <= 8
