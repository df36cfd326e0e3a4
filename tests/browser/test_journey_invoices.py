from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in
from tests.portal.test_date_formats import date_styles

pytestmark = pytest.mark.django_db(transaction=True)

TYPES_EN = ("New", "Recurring", "One-time", "Credit", "Refund")
TYPES_ZH = ("新发票", "周期性", "一次性费用", "信用值", "退款")


def test_customer_reads_invoices_filters_them_and_drills_into_an_item(
    page: Page, demo: Account
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    # Signing in lands on Account > Billing > Invoices.
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
    summary = page.get_by_test_id("billing-summary")
    expect(summary.get_by_text("Current balance (USD)")).to_be_visible()
    expect(summary.get_by_text("Current balance (CNY)")).to_be_visible()
    expect(summary.get_by_text("Next recurring invoice")).to_be_visible()
    expect(summary.get_by_role("link", name="Pay Balance")).to_have_attribute("href", "/payments/")
    assert_accessible(page)
    table = page.get_by_test_id("invoice-table")
    for label in TYPES_EN:
        expect(table.get_by_text(label, exact=True).first).to_be_visible()

    page.get_by_role("checkbox", name="Recurring", exact=True).check()
    page.get_by_role("button", name="Filter").click()
    rows = page.get_by_test_id("invoice-table").locator("tbody tr")
    expect(rows.first).to_be_visible()
    for row_type in rows.locator("td[data-label='Type']").all_inner_texts():
        assert row_type == "Recurring"

    rows.first.get_by_role("link").first.click()
    expect(page.get_by_test_id("invoice-number")).to_be_visible()
    page.wait_for_load_state()
    expect(page.get_by_text("Dual Intel Xeon Silver 4410Y (24 cores)")).to_have_count(0)
    # Anywhere on the row, not only on the link.
    page.get_by_role("row", name="Bare Metal Server").get_by_text("db01.yunfan.example").click()
    expect(page.get_by_text("Dual Intel Xeon Silver 4410Y (24 cores)")).to_be_visible()
    expect(page.get_by_text("256 GB RAM")).to_be_visible()
    assert_accessible(page)
    # In place: the page did not reload.
    assert "expand=" not in page.url
    page.get_by_role("row", name="Bare Metal Server").get_by_text("db01.yunfan.example").click()
    expect(page.get_by_text("256 GB RAM")).to_have_count(0)


def test_the_same_journey_in_chinese(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()

    expect(page.get_by_role("heading", name="发票", exact=True)).to_be_visible()
    summary = page.get_by_test_id("billing-summary")
    expect(summary.get_by_text("当前余额（USD）")).to_be_visible()
    expect(summary.get_by_role("link", name="支付余额")).to_be_visible()
    table = page.get_by_test_id("invoice-table")
    for label in TYPES_ZH:
        expect(table.get_by_text(label, exact=True).first).to_be_visible()
    assert_accessible(page)

    page.get_by_label("信用值").check()
    page.get_by_role("button", name="筛选").click()
    for row_type in table.locator("tbody td[data-label='发票类型']").all_inner_texts():
        assert row_type == "信用值"

    page.get_by_role("checkbox", name="周期性", exact=True).check()
    page.get_by_label("信用值").uncheck()
    page.get_by_role("button", name="筛选").click()
    table.locator("tbody tr").first.get_by_role("link").first.click()
    page.wait_for_load_state()
    page.get_by_role("row", name="Virtual Server").click()
    expect(page.get_by_text("8 vCPU")).to_be_visible()
    expect(page.get_by_role("heading", name="计费项目")).to_be_visible()
    # The addresses name their countries in Chinese, and the dates are written one way.
    parties = page.locator(".parties")
    for country in ("美国", "中国"):
        expect(parties).to_contain_text(country)
    for country in ("United States", "China"):
        expect(parties).not_to_contain_text(country)
    assert date_styles(page.locator("main").inner_text()) == {"年月日"}
    assert_accessible(page)


def test_without_javascript_the_row_link_still_shows_the_details(
    browser, live_server, demo: Account
) -> None:
    context = browser.new_context(java_script_enabled=False, base_url=live_server.url)
    page = context.new_page()
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_role("checkbox", name="Recurring", exact=True).check()
    page.get_by_role("button", name="Filter").click()
    page.get_by_test_id("invoice-table").locator("tbody tr").first.get_by_role("link").first.click()
    page.get_by_role("link", name="Bare Metal Server").click()
    expect(page.get_by_text("256 GB RAM")).to_be_visible()
    assert "expand=" in page.url
    context.close()
