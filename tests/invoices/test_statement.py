from __future__ import annotations

import csv
import io
import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from pypdf import PdfReader

from accounts.models import Account, User
from invoices.balances import recomputed_balances
from invoices.models import Invoice, StatementDocument
from invoices.services import (
    invoice_issue_credit,
    invoice_issue_refund,
)
from invoices.statement_documents import statement_csv, statement_document_render
from invoices.statements import AgingBucket, EntryKind, account_statement, aging_bucket

D = Decimal
pytestmark = pytest.mark.django_db
URL = reverse("invoices:statement")


@pytest.fixture
def history(account: Account, owner: User, issue, pay_by_card) -> dict[str, Invoice]:
    """A charge before the period, a charge and a credit in it, then today a card payment
    (to the oldest charge) and a refund of part of it."""
    older = issue(account, "100.00", on=date(2026, 9, 15), description="Server")
    newer = issue(account, "50.00", on=date(2026, 10, 5), description="Backup")
    credit = invoice_issue_credit(
        original=newer, amount=D("10.00"), reason="SLA", issue_date=date(2026, 10, 20)
    )
    pay_by_card(account, owner, "60.00")
    refund = invoice_issue_refund(original=older, amount=D("20.00"), reason="Goodwill")
    return {"older": older, "newer": newer, "credit": credit, "refund": refund}


def _statement(account: Account, start: date, end: date | None = None, currency: str = "USD"):
    return account_statement(
        account=account, currency=currency, start=start, end=end or timezone.localdate()
    )


def test_the_statement_runs_from_the_opening_to_the_closing_balance(
    account: Account, history: dict[str, Invoice]
) -> None:
    statement = _statement(account, date(2026, 10, 1))
    assert statement.opening_balance == D("100.00")
    kinds = [(e.kind, e.amount, e.balance) for e in statement.entries]
    assert kinds == [
        (EntryKind.CHARGE, D("50.00"), D("150.00")),
        (EntryKind.CREDIT, D("-10.00"), D("140.00")),
        (EntryKind.PAYMENT, D("-60.00"), D("80.00")),
        (EntryKind.REFUND, D("-20.00"), D("60.00")),
        (EntryKind.REFUND_PAID, D("20.00"), D("80.00")),
    ]
    [payment] = [e for e in statement.entries if e.kind == EntryKind.PAYMENT]
    assert payment.reference.startswith("RCPT-") and "•••• 4242" in payment.reference
    assert history["older"].number in payment.description
    assert payment.url.startswith("/payments/")
    assert statement.closing_balance == D("80.00")
    days = [e.day for e in statement.entries]
    assert days == sorted(days)


def test_the_closing_balance_is_what_check_balances_recomputes(
    account: Account, history: dict[str, Invoice], other_account: Account, issue
) -> None:
    issue(other_account, "999.00")  # another account's money is never in it
    statement = _statement(account, date(2020, 1, 1))
    assert statement.opening_balance == 0
    assert statement.closing_balance == recomputed_balances(account.pk)["USD"]
    assert statement.closing_balance == statement.total_open - statement.unapplied_credit
    # Wherever the period starts, the lines lead to the same close.
    for start in (date(2026, 9, 15), date(2026, 10, 6), date(2026, 10, 21), timezone.localdate()):
        assert _statement(account, start).closing_balance == D("80.00")


def test_aging_is_what_was_open_at_the_end_by_days_past_due(
    account: Account, history: dict[str, Invoice]
) -> None:
    older, newer = history["older"], history["newer"]
    # At the end of October nothing had been paid yet, only the credit used on `newer`.
    october = _statement(account, date(2026, 10, 1), date(2026, 10, 31))
    assert october.closing_balance == D("140.00")
    assert [(o.number, o.open_amount) for o in october.open_invoices] == [
        (older.number, D("100.00")),
        (newer.number, D("40.00")),
    ]
    by_bucket = {line.bucket: line.amount for line in october.aging}
    assert (october.end - older.due_date).days == 16
    assert by_bucket[AgingBucket.DAYS_1_30] == D("100.00")
    assert by_bucket[AgingBucket.CURRENT] == D("40.00")  # due 4 November
    assert october.total_open == D("140.00")

    today = _statement(account, date(2026, 10, 1))
    open_now = {o.number: o.open_amount for o in today.open_invoices}
    assert open_now == {older.number: D("40.00"), newer.number: D("40.00")}
    older.refresh_from_db()
    assert older.balance == D("40.00")
    assert today.total_open == sum(open_now.values())


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-3, AgingBucket.CURRENT),
        (0, AgingBucket.CURRENT),
        (1, AgingBucket.DAYS_1_30),
        (30, AgingBucket.DAYS_1_30),
        (31, AgingBucket.DAYS_31_60),
        (60, AgingBucket.DAYS_31_60),
        (61, AgingBucket.DAYS_61_90),
        (90, AgingBucket.DAYS_61_90),
        (91, AgingBucket.OVER_90),
    ],
)
def test_the_aging_buckets_have_their_edges(days: int, bucket: AgingBucket) -> None:
    assert aging_bucket(days) == bucket


def test_a_credit_left_over_is_shown_and_applied_to_the_next_charge(
    owner_client: Client, account: Account, issue, owner: User, pay_by_card
) -> None:
    charge = issue(account, "30.00", on=date(2026, 10, 1))
    pay_by_card(account, owner, "30.00")
    credit = invoice_issue_credit(original=charge, amount=D("12.00"), reason="Outage")
    assert credit.state == Invoice.State.CREDIT_AVAILABLE and credit.balance == D("-12.00")

    statement = _statement(account, date(2026, 10, 1))
    assert statement.unapplied_credit == D("12.00")
    assert statement.closing_balance == D("-12.00")
    body = owner_client.get(
        URL, {"start": "2026-10-01", "end": str(timezone.localdate()), "currency": "USD"}
    ).content.decode()
    assert 'data-testid="unapplied-credit">$12.00' in body
    summary = owner_client.get(reverse("invoices:list")).content.decode()
    assert 'data-testid="credit-available-USD">$12.00' in summary

    # As today: the next charge uses it first.
    following = issue(account, "20.00", on=timezone.localdate())
    assert following.balance == D("8.00")
    credit.refresh_from_db()
    assert credit.state == Invoice.State.CREDIT_USED
    assert _statement(account, date(2026, 10, 1)).unapplied_credit == 0
    assert "credit-available-USD" not in owner_client.get(reverse("invoices:list")).content.decode()


def test_the_page_shows_the_lines_aging_and_links(
    owner_client: Client, history: dict[str, Invoice]
) -> None:
    response = owner_client.get(
        URL, {"start": "2026-10-01", "end": "2026-10-31", "currency": "USD"}
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="opening-balance">$100.00' in body
    assert 'data-testid="closing-balance">$140.00' in body
    assert history["newer"].number in body and history["credit"].number in body
    assert history["refund"].number not in body  # issued after the period
    assert 'data-testid="aging-1_30">$100.00' in body
    assert reverse("invoices:detail", args=[history["older"].pk]) in body


def test_without_a_period_the_page_shows_the_last_three_months(
    owner_client: Client, history: dict[str, Invoice]
) -> None:
    statement = owner_client.get(URL).context["statement"]
    today = timezone.localdate()
    assert statement.end == today and statement.start.day == 1
    assert (today - statement.start).days < 93 and statement.currency == "USD"


def test_an_end_before_the_start_is_explained_in_english_and_chinese(
    owner_client: Client, history: dict[str, Invoice]
) -> None:
    query = {"start": "2026-10-31", "end": "2026-10-01", "currency": "USD"}
    response = owner_client.get(URL, query)
    assert response.status_code == 400
    assert response.context["statement"] is None
    assert "The end date is before the start date." in response.content.decode()
    assert owner_client.get(reverse("invoices:statement_csv"), query).status_code == 400
    before = StatementDocument.objects.count()
    assert owner_client.post(reverse("invoices:statement_pdf_request"), query).status_code == 400
    assert StatementDocument.objects.count() == before
    owner_client.cookies["django_language"] = "zh-hans"
    body = owner_client.get(URL, query, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "截止日期早于起始日期。" in body


def test_a_currency_the_account_does_not_use_is_refused(
    owner_client: Client, history: dict[str, Invoice]
) -> None:
    response = owner_client.get(
        URL, {"start": "2026-10-01", "end": "2026-10-31", "currency": "EUR"}
    )
    assert response.status_code == 400


def test_the_statement_costs_the_same_queries_for_10_and_1000_invoices(
    owner_client: Client, account: Account, owner: User, issue, pay_by_card
) -> None:
    from tests.invoices.test_views import _bulk_invoices

    query = {"start": "2019-01-01", "end": str(timezone.localdate()), "currency": "USD"}
    _bulk_invoices(account, 10)
    pay_by_card(account, owner, "3.00")
    with CaptureQueriesContext(connection) as few:
        response = owner_client.get(URL, query)
    assert len(response.context["statement"].entries) == 11
    _bulk_invoices(account, 990)
    pay_by_card(account, owner, "5.00")
    charge = Invoice.objects.filter(account=account, state=Invoice.State.OPEN).last()
    invoice_issue_credit(original=charge, amount=D("1.00"), reason="SLA")
    with CaptureQueriesContext(connection) as many:
        response = owner_client.get(URL, query)
    assert len(response.context["statement"].entries) == 1003
    assert len(few) == len(many), [q["sql"][:80] for q in many.captured_queries]
    with CaptureQueriesContext(connection) as csv_many:
        b"".join(owner_client.get(reverse("invoices:statement_csv"), query).streaming_content)
    assert len(csv_many) <= len(many)


def test_the_csv_has_every_line_in_the_readers_language(
    owner_client: Client, history: dict[str, Invoice]
) -> None:
    query = {"start": "2026-10-01", "end": str(timezone.localdate()), "currency": "USD"}
    response = owner_client.get(reverse("invoices:statement_csv"), query)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "Date",
        "Reference",
        "Description",
        "Currency",
        "Charges",
        "Payments and credits",
        "Balance",
    ]
    assert rows[1][2] == "Opening balance" and rows[1][6] == "100.00"
    assert [row[6] for row in rows[2:7]] == ["150.00", "140.00", "80.00", "60.00", "80.00"]
    assert rows[7][2] == "Closing balance" and rows[7][6] == "80.00"
    with translation.override("zh-hans"):
        statement = _statement(history["older"].account, date(2026, 10, 1))
        text = "".join(statement_csv(statement))
    assert "期初余额" in text and "期末余额" in text


def test_the_pdf_is_rendered_by_the_worker_stored_and_served_in_the_readers_language(
    owner_client: Client, history: dict[str, Invoice], django_capture_on_commit_callbacks, tmp_path
) -> None:
    query = {"start": "2026-10-01", "end": str(timezone.localdate()), "currency": "USD"}
    owner_client.cookies["django_language"] = "zh-hans"
    page = owner_client.get(URL, query).content.decode()
    assert "准备 PDF" in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("invoices:statement_pdf_request"), query)
    assert response.status_code == 302
    document = StatementDocument.objects.get()
    assert document.state == StatementDocument.State.PENDING and document.language == "zh-hans"
    assert 'data-testid="statement-pdf-pending"' in owner_client.get(URL, query).content.decode()
    status = reverse("invoices:statement_pdf_status", args=[document.pk])
    assert 'hx-trigger="every 2s"' in owner_client.get(status).content.decode()
    assert (
        owner_client.get(reverse("invoices:statement_pdf", args=[document.pk])).status_code == 404
    )

    assert len(callbacks) == 1
    callbacks[0]()  # the task is sent after the commit; in the tests it runs in-process
    document.refresh_from_db()
    assert document.state == StatementDocument.State.READY
    page = owner_client.get(URL, query).content.decode()
    download = reverse("invoices:statement_pdf", args=[document.pk])
    assert download in page
    response = owner_client.get(download)
    content = b"".join(response.streaming_content)
    assert response["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    for expected in ("账户对账单", "期初余额", "期末余额", history["newer"].number, "US$80.00"):
        assert expected in text, expected
    path = tmp_path / "statement.pdf"
    path.write_bytes(content)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    assert any("CJK" in line for line in fonts.stdout.splitlines()), fonts.stdout

    # Asked again for the same statement: the same document, no second render.
    with django_capture_on_commit_callbacks(execute=False) as again:
        owner_client.post(reverse("invoices:statement_pdf_request"), query)
    assert StatementDocument.objects.count() == 1 and not again
    assert statement_document_render(document_id=document.pk).file.name == document.file.name
    assert default_storage.exists(document.file.name)


def test_the_english_pdf_is_in_english(account: Account, history: dict[str, Invoice]) -> None:
    statement = _statement(account, date(2026, 10, 1))
    document = StatementDocument.objects.create(
        account=account,
        currency="USD",
        period_start=statement.start,
        period_end=statement.end,
        language="en",
        input_hash="x",
    )
    document = statement_document_render(document_id=document.pk)
    with default_storage.open(document.file.name, "rb") as handle:
        text = "".join(p.extract_text() for p in PdfReader(handle).pages)
    for expected in (
        "Account statement",
        "Opening balance",
        "$100.00",
        "Closing balance",
        "$80.00",
        "1–30 days past due",
    ):
        assert expected in text, expected


def test_a_strangers_statement_documents_are_a_404(
    client: Client, stranger: User, account: Account, history: dict[str, Invoice]
) -> None:
    document = StatementDocument.objects.create(
        account=account,
        currency="USD",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        language="en",
        input_hash="x",
    )
    statement_document_render(document_id=document.pk)
    client.force_login(stranger)
    assert client.get(reverse("invoices:statement_pdf", args=[document.pk])).status_code == 404
    status = reverse("invoices:statement_pdf_status", args=[document.pk])
    assert client.get(status).status_code == 404
    # Their own statement never shows this account's invoices.
    body = client.get(URL, {"start": "2026-01-01", "end": "2026-12-31", "currency": "USD"})
    assert history["older"].number not in body.content.decode()


def test_a_viewer_sees_the_statement(viewer_client: Client, history: dict[str, Invoice]) -> None:
    assert viewer_client.get(URL).status_code == 200


def test_the_page_rejects_a_pdf_request_by_get(owner_client: Client) -> None:
    assert owner_client.get(reverse("invoices:statement_pdf_request")).status_code == 405


def test_payments_after_the_end_do_not_count_at_the_end(
    account: Account, history: dict[str, Invoice]
) -> None:
    yesterday = timezone.localdate() - timedelta(days=1)
    statement = _statement(account, date(2026, 1, 1), yesterday)
    assert statement.closing_balance == D("140.00")
    assert statement.total_open == D("140.00")
