"""What is due, at a glance: the Invoices list's status and due-date columns, its unpaid and
overdue filters, search by number, Pay selected, Pay this invoice, and the summary's overdue."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts.models import Account, User
from invoices.services import invoice_issue_credit
from invoices.status import invoice_status
from tests.conftest import IssueFn
from tests.invoices.test_views import _bulk_invoices

D = Decimal
pytestmark = pytest.mark.django_db
LIST = reverse("invoices:list")


def _due(days_ago: int) -> date:
    """The issue date of an invoice that fell due `days_ago` days ago."""
    return timezone.localdate() - timedelta(days=days_ago + settings.INVOICE_PAYMENT_TERMS_DAYS)


def _viewer(viewer: User) -> Client:
    """A viewer of the account signed in on a client of their own."""
    client = Client()
    client.force_login(viewer)
    return client


def _numbers(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [row.invoice.number for row in response.context["rows"]]


def test_each_status_is_shown_with_the_overdue_days_in_both_languages(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    late = issue(account, "100.00", on=_due(12))
    one_day = issue(account, "10.00", on=_due(1))
    current = issue(account, "40.00", on=_due(-5))
    paid = issue(account, "20.00", on=_due(-3))
    pay_by_card(account, owner, "20.00", invoices=[paid.pk])
    credit = invoice_issue_credit(original=current, amount=D("40.00"), reason="Goodwill")

    html = owner_client.get(LIST).content.decode()

    assert f'data-testid="status-{late.number}">Overdue · 12 days<' in html
    assert f'data-testid="status-{one_day.number}">Overdue · 1 day<' in html
    assert f'data-testid="status-{paid.number}">Paid<' in html
    assert f'data-testid="status-{credit.number}">Credit used<' in html
    assert f'data-label="Due date">{date_format(late.due_date, "DATE_FORMAT")}<' in html
    paid.refresh_from_db()
    with translation.override("zh-hans"):
        assert invoice_status(late, timezone.localdate()).label == "已逾期 · 12 天"
        assert invoice_status(paid, timezone.localdate()).label == "已付款"


def test_the_status_filter_shows_the_unpaid_or_the_overdue_and_search_finds_a_number(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    late = issue(account, "100.00", on=_due(3))
    current = issue(account, "40.00", on=_due(-5))
    paid = issue(account, "20.00", on=_due(-3))
    pay_by_card(account, owner, "20.00", invoices=[paid.pk])

    assert set(_numbers(owner_client.get(LIST, {"status": "unpaid"}))) == {
        late.number,
        current.number,
    }
    assert _numbers(owner_client.get(LIST, {"status": "overdue"})) == [late.number]
    assert _numbers(owner_client.get(LIST, {"q": paid.number[-4:]})) == [paid.number]
    assert _numbers(owner_client.get(LIST, {"q": paid.number.lower()})) == [paid.number]
    response = owner_client.get(LIST, {"q": "no-such-number"})
    assert _numbers(response) == []
    assert "No invoice matches these filters." in response.content.decode()
    # A status that is not one of the list's filters is said and filters nothing.
    response = owner_client.get(LIST, {"status": "everything"})
    assert "Select a valid choice." in response.content.decode()
    assert len(_numbers(response)) == 3


def test_the_csv_follows_the_status_filter_and_the_search(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    late = issue(account, "100.00", on=_due(3))
    issue(account, "40.00", on=_due(-5))
    body = b"".join(
        owner_client.get(reverse("invoices:list_csv"), {"status": "overdue"}).streaming_content
    ).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(late.number)
    body = b"".join(
        owner_client.get(reverse("invoices:list_csv"), {"q": late.number}).streaming_content
    ).decode("utf-8-sig")
    assert len(body.strip().splitlines()) == 2
    page = owner_client.get(LIST, {"status": "overdue"}).content.decode()
    assert f"{reverse('invoices:list_csv')}?status=overdue" in page


def test_the_summary_says_what_is_overdue_per_currency(
    owner_client: Client, account: Account, issue: IssueFn
) -> None:
    issue(account, "100.00", on=_due(3))
    issue(account, "40.00", on=_due(-5))
    issue(account, "700.00", currency="CNY", on=_due(-5))
    html = owner_client.get(LIST).content.decode()
    assert 'data-testid="overdue-USD">$100.00' in html
    assert 'data-testid="overdue-CNY"' not in html
    summary = owner_client.get(LIST).context["summary"]
    assert [(line.currency, line.overdue) for line in summary.currencies] == [
        ("USD", D("100.00")),
        ("CNY", D("0.00")),
    ]


def test_pay_balance_shows_only_when_something_is_owed(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    assert 'data-testid="pay-balance"' not in owner_client.get(LIST).content.decode()
    invoice = issue(account, "100.00")
    assert 'data-testid="pay-balance"' in owner_client.get(LIST).content.decode()
    pay_by_card(account, owner, "100.00", invoices=[invoice.pk])
    assert 'data-testid="pay-balance"' not in owner_client.get(LIST).content.decode()


def test_only_open_charges_can_be_ticked_and_only_by_a_user_who_may_pay(
    owner_client: Client,
    viewer: User,
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
) -> None:
    open_one = issue(account, "100.00")
    paid = issue(account, "20.00")
    pay_by_card(account, owner, "20.00", invoices=[paid.pk])
    html = owner_client.get(LIST).content.decode()
    assert f'name="invoice" value="{open_one.pk}" form="pay-selected"' in html
    assert f'value="{paid.pk}" form="pay-selected"' not in html
    assert f'action="{reverse("payments:pay")}"' in html and "Pay selected" in html
    viewer_html = _viewer(viewer).get(LIST).content.decode()
    assert 'form="pay-selected"' not in viewer_html and "Pay selected" not in viewer_html


def test_an_open_invoice_has_pay_this_invoice_and_a_paid_one_does_not(
    owner_client: Client,
    viewer: User,
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
) -> None:
    invoice = issue(account, "100.00", on=_due(2))
    detail = reverse("invoices:detail", args=[invoice.pk])
    html = owner_client.get(detail).content.decode()
    assert f'href="{reverse("payments:pay")}?invoice={invoice.pk}"' in html
    assert "Pay this invoice" in html and "Overdue · 2 days" in html
    assert "Pay this invoice" not in _viewer(viewer).get(detail).content.decode()
    pay_by_card(account, owner, "100.00", invoices=[invoice.pk])
    assert "Pay this invoice" not in owner_client.get(detail).content.decode()


def test_a_strangers_invoices_are_neither_listed_nor_found(
    client: Client, stranger: User, account: Account, issue: IssueFn
) -> None:
    invoice = issue(account, "100.00")
    client.force_login(stranger)
    assert _numbers(client.get(LIST, {"q": invoice.number})) == []
    assert client.get(reverse("invoices:detail", args=[invoice.pk])).status_code == 404


@pytest.mark.parametrize("query", [{}, {"status": "overdue", "q": "BULK"}])
def test_the_list_with_status_and_search_costs_the_same_queries_for_10_and_1000_rows(
    owner_client: Client, account: Account, query: dict[str, str]
) -> None:
    _bulk_invoices(account, 10)
    with CaptureQueriesContext(connection) as few:
        response = owner_client.get(LIST, query)
    assert response.status_code == 200 and response.context["rows"]
    _bulk_invoices(account, 990)
    with CaptureQueriesContext(connection) as many:
        response = owner_client.get(LIST, {**query, "page": "2"})
    assert response.status_code == 200 and response.context["rows"]
    assert len(few) == len(many)
