"""The account statement in a browser: its running balance and aging match the invoices."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Account
from invoices.models import Invoice
from invoices.statements import AgingBucket, aging_bucket
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

BUCKETS = [b.value for b in AgingBucket]


def _amount(text: str) -> Decimal:
    """An amount as the page writes it ("$1,234.50", "-US$12.00") as a Decimal."""
    cleaned = re.sub(r"[^\d.\-]", "", text.replace("−", "-"))
    return Decimal(cleaned or "0")


def _expected(account: Account) -> tuple[Decimal, dict[str, Decimal], dict[str, Decimal]]:
    """From the invoices themselves: the USD balance, what each open invoice owes, and the
    aging buckets at today."""
    today = timezone.localdate()
    invoices = list(Invoice.objects.filter(account=account, currency="USD"))
    balance = sum((i.balance for i in invoices), Decimal(0))
    open_ = {i.number: i.balance for i in invoices if i.state == Invoice.State.OPEN}
    buckets = dict.fromkeys(BUCKETS, Decimal(0))
    for invoice in invoices:
        if invoice.state == Invoice.State.OPEN:
            buckets[aging_bucket((today - invoice.due_date).days)] += invoice.balance
    return balance, open_, buckets


def _check_statement(page: Page, account: Account) -> None:
    balance, open_, buckets = _expected(account)
    table = page.get_by_test_id("statement-table")
    expect(table).to_be_visible()
    # The running balance: each line's balance is the one before plus its charge, less its
    # payment or credit.
    running = _amount(page.get_by_test_id("opening-balance").inner_text())
    rows = table.locator("tbody tr[data-testid=statement-row]")
    assert rows.count() > 3
    for cells in rows.evaluate_all(
        "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.innerText))"
    ):
        charge, credit, shown = cells[3], cells[4], cells[5]
        running += (_amount(charge) if charge.strip() else 0) - (
            _amount(credit) if credit.strip() else 0
        )
        assert _amount(shown) == running, cells
    closing = _amount(page.get_by_test_id("closing-balance").inner_text())
    assert closing == running == balance
    # Aging: the buckets and the open invoices are those of the invoices.
    for bucket, amount in buckets.items():
        assert _amount(page.get_by_test_id(f"aging-{bucket}").inner_text()) == amount, bucket
    assert _amount(page.get_by_test_id("aging-total").inner_text()) == sum(open_.values())
    listed = {
        cells[0]: _amount(cells[3])
        for cells in page.get_by_test_id("open-invoice").evaluate_all(
            "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.innerText))"
        )
    }
    assert listed == open_


def _show_all_of_it(page: Page, start_label: str, end_label: str, button: str) -> None:
    page.get_by_role("textbox", name=start_label).fill("2020-01-01")
    page.get_by_role("textbox", name=end_label).fill(timezone.localdate().isoformat())
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state()


def test_the_statement_matches_the_invoices_and_its_pdf_is_offered(
    page: Page, demo: Account
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_role("navigation").get_by_role("link", name="Statement").click()
    expect(page.get_by_role("heading", name="Account statement", exact=True)).to_be_visible()
    _show_all_of_it(page, "From", "To", "Show statement")
    _check_statement(page, demo)
    expect(page.get_by_test_id("statement-table")).to_contain_text("Payment applied to")
    assert_accessible(page)

    # A period that ends before it starts is explained, and nothing is shown.
    page.locator("#id_start").fill("2026-10-31")
    page.locator("#id_end").fill("2026-10-01")
    page.get_by_role("button", name="Show statement").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text(
        "The end date is before the start date."
    )
    expect(page.get_by_test_id("statement-table")).to_have_count(0)
    assert_accessible(page)

    _show_all_of_it(page, "From", "To", "Show statement")
    page.get_by_role("button", name="Prepare PDF").click()
    download_link = page.get_by_test_id("statement-pdf-download")
    expect(download_link).to_be_visible()
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename.startswith("statement-USD-2020-01-01-")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")


def test_the_statement_in_chinese(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()
    page.get_by_role("navigation").get_by_role("link", name="对账单").click()
    expect(page.get_by_role("heading", name="账户对账单", exact=True)).to_be_visible()
    _show_all_of_it(page, "起始日期", "截止日期", "显示对账单")
    _check_statement(page, demo)
    expect(page.get_by_role("columnheader", name="逾期 1–30 天")).to_be_visible()
    expect(page.get_by_test_id("statement-summary")).to_contain_text("期末余额")
    assert_accessible(page)


def test_the_next_invoice_agrees_with_the_summary(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    summary = page.get_by_test_id("billing-summary")
    estimated = summary.get_by_test_id("estimated-next-balance-USD").inner_text()
    summary.get_by_role("link", name="Preview the next invoice").click()
    expect(page.get_by_role("heading", name="Next invoice")).to_be_visible()
    expect(page.get_by_test_id("estimate-notice")).to_be_visible()
    expect(page.get_by_test_id("next-invoice-estimated-balance")).to_have_text(estimated)
    expect(page.get_by_test_id("next-invoice-detail").first).to_be_visible()
    assert_accessible(page)
