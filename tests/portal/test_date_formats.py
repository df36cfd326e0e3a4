"""One date format and one date-time format per language, on every page that shows dates,
in the PDFs and in the emails (portal/formats/)."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone, translation
from pypdf import PdfReader

from accounts.models import Account, OutboundEmail, User
from invoices.services import invoice_issue_credit
from tests.conftest import IssueFn

pytestmark = pytest.mark.django_db

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# Every way a date has been written on these pages, by name.
STYLES = {
    "day month year": rf"\b\d{{1,2}} {_MONTH} \d{{4}}\b",
    "month day, year": rf"\b{_MONTH}[a-z]*\.? \d{{1,2}}, \d{{4}}\b",
    "numeric": r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
    "iso": r"\b\d{4}-\d{2}-\d{2}\b",
    "年月日": r"\d{4}年\d{1,2}月\d{1,2}日",
    "12-hour time": r"\b\d{1,2}:\d{2}\s*(?:a\.m\.|p\.m\.|[AaPp][Mm])",
    "midnight or noon": r"\b(?:midnight|noon)\b",
}
EXPECTED = {"en": "day month year", "zh-hans": "年月日"}


def date_styles(text: str) -> set[str]:
    return {name for name, pattern in STYLES.items() if re.search(pattern, text)}


def _page_text(client: Client, url: str, language: str) -> str:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.fixture
def paid_history(account: Account, owner: User, issue: IssueFn, pay_by_card) -> dict[str, str]:
    """Invoices of two months, a credit against one and a payment: the pages with dates."""
    older = issue(account, "100.00", on=date(2026, 9, 1))
    newer = issue(account, "50.00", on=date(2026, 10, 1))
    invoice_issue_credit(original=newer, amount=Decimal("5.00"), reason="Goodwill")
    payment = pay_by_card(account, owner, "60.00")
    return {
        "invoices": reverse("invoices:list"),
        "invoice": reverse("invoices:detail", args=[newer.pk]),
        "older invoice": reverse("invoices:detail", args=[older.pk]),
        "payments": reverse("payments:pay"),
        "payment": reverse("payments:detail", args=[payment.pk]),
    }


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_page_writes_its_dates_one_way(
    owner_client: Client, paid_history: dict[str, str], language: str
) -> None:
    for page, url in paid_history.items():
        styles = date_styles(_page_text(owner_client, url, language))
        assert styles == {EXPECTED[language]}, f"{page} in {language}: {styles}"


def test_the_formats_are_the_portals_own() -> None:
    moment = timezone.make_aware(datetime(2026, 12, 1, 7, 41))
    day = date(2026, 12, 1)
    with translation.override("en"):
        assert formats.date_format(day) == "1 Dec 2026"
        assert formats.date_format(day, "SHORT_DATE_FORMAT") == "1 Dec 2026"
        assert formats.date_format(moment, "DATETIME_FORMAT") == "1 Dec 2026, 07:41"
        assert formats.date_format(moment, "SHORT_DATETIME_FORMAT") == "1 Dec 2026, 07:41"
    with translation.override("zh-hans"):
        assert formats.date_format(day) == "2026年12月1日"
        assert formats.date_format(day, "SHORT_DATE_FORMAT") == "2026年12月1日"
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2026年12月1日 07:41"


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_invoice_and_receipt_pdfs_write_dates_one_way(
    owner_client: Client, account: Account, owner: User, issue: IssueFn, pay_by_card, language
) -> None:
    original = issue(account, "100.00", on=date(2026, 9, 1))
    credit = invoice_issue_credit(original=original, amount=Decimal("5.00"), reason="Goodwill")
    payment = pay_by_card(account, owner, "95.00")
    for url in (
        reverse("invoices:pdf", args=[original.pk]),
        reverse("invoices:pdf", args=[credit.pk]),
        reverse("payments:receipt_pdf", args=[payment.pk]),
    ):
        response = owner_client.get(url, HTTP_ACCEPT_LANGUAGE=language)
        content = (
            b"".join(response.streaming_content)  # type: ignore[arg-type]
            if response.streaming
            else response.content
        )
        text = "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)
        assert date_styles(text) == {EXPECTED[language]}, (url, text)


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_emails_write_dates_one_way(
    account: Account, owner: User, issue: IssueFn, language: str
) -> None:
    account.language = language
    account.save(update_fields=["language"])
    issue(account, "100.00", on=date(2026, 9, 1))
    (email,) = OutboundEmail.objects.filter(account=account, key__contains="invoice")
    assert date_styles(email.subject + email.body + email.html_body) == {EXPECTED[language]}
