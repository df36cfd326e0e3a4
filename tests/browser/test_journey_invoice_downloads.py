from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from accounts.models import Account
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_downloads_an_invoice_as_pdf_and_csv(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_label("Recurring").check()
    page.get_by_role("button", name="Filter").click()
    page.get_by_test_id("invoice-table").locator("tbody tr").first.get_by_role("link").first.click()
    number = page.get_by_test_id("invoice-number").inner_text()
    assert_accessible(page)

    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = pdf_download.value
    assert pdf.suggested_filename == f"invoice-{number}.pdf"
    text = PdfReader(pdf.path()).pages[0].extract_text()
    assert number in text and "上海云帆科技有限公司" in text and "Bare Metal Server" in text

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    assert csv_download.value.suggested_filename == f"invoice-{number}.csv"
    with open(csv_download.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == number
    assert "Dual Intel Xeon Silver 4410Y (24 cores)" in [row[6] for row in rows]

    page.goto("/billing/invoices/?type=credit")
    with page.expect_download() as list_download:
        page.get_by_role("link", name="Download CSV").first.click()
    content = list_download.value.path().read_text(encoding="utf-8-sig")
    types = {row[2] for row in csv.reader(io.StringIO(content))} - {"Type"}
    assert types == {"Credit"}
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
