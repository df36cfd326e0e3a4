"""J7: the account's activity shows the payment just made and who made it; the Invoices page
draws its spend chart with the same figures as a table. In English and in Chinese."""

from __future__ import annotations

from decimal import Decimal

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from payments.selectors import amount_owed
from tests.browser.accessibility import assert_accessible, assert_no_sideways_scroll
from tests.browser.conftest import fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-pass-2026"


def _pay_by_card(page: Page, amount: str, *, labels: dict[str, str]) -> None:
    page.goto("/payments/")
    page.get_by_label(labels["amount"]).fill(amount)
    page.get_by_label(labels["company"]).check()
    fields = page.frame_locator("#card-fields-frame")
    fields.get_by_label(labels["holder"]).fill("WANG XIAOMING")
    fields.get_by_label(labels["number"], exact=True).fill("4242 4242 4242 4242")
    fields.get_by_label(labels["expiry"]).fill("12/30")
    fields.get_by_label(labels["cvc"]).fill("123")
    page.get_by_role("button", name=labels["pay"]).click()
    expect(page.get_by_test_id("payment-result")).to_have_text(labels["paid"])


def test_the_activity_shows_the_payment_just_made_and_by_whom(page: Page, demo: Account) -> None:
    assert amount_owed(demo, "USD") > Decimal("12.34")
    sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)
    page.goto("/payments/")
    page.get_by_label("Payment Amount").fill("12.34")
    page.get_by_label("Use company information").check()
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Pay with Credit Card").click()
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )

    page.get_by_role("navigation", name="Main menu").get_by_role("link", name="Activity").click()
    expect(page.get_by_role("heading", name="Account activity", exact=True)).to_be_visible()
    newest = (
        page.get_by_test_id("activity-table")
        .locator("tbody tr")
        .filter(has_text="Payment succeeded")
        .first
    )
    expect(newest).to_contain_text("$12.34")
    expect(newest).to_contain_text("Visa •••• 4242")
    expect(newest).to_contain_text(DEMO_EMAIL)
    # Newest first: nothing above the payment but what the payment itself recorded.
    first_rows = page.get_by_test_id("activity-table").locator("tbody tr").all_inner_texts()[:3]
    assert any("Payment succeeded" in row for row in first_rows)
    assert "4242424242424242" not in page.content()
    assert_accessible(page)


def test_the_invoices_page_draws_the_spend_chart_with_its_table(page: Page, demo: Account) -> None:
    sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)
    page.goto("/billing/invoices/")
    chart = page.get_by_test_id("spend-chart")
    expect(chart.get_by_role("heading", name="Spending, last 12 months")).to_be_visible()
    usd = chart.get_by_role("img", name="Charges by category, last 12 months (USD)")
    expect(usd).to_be_visible()
    bars = usd.locator("rect")
    assert bars.count() >= 1
    table = page.get_by_test_id("spend-table-usd")
    expect(table.locator("tbody tr")).to_have_count(12)
    # The figures in the table add up to the total row (the bars are drawn from them).
    expect(table.locator("tfoot td").last).not_to_have_text("$0.00")
    legend = chart.locator(".chart-legend li")
    assert legend.count() >= 1
    assert_accessible(page)
    page.set_viewport_size({"width": 390, "height": 844})
    expect(usd).to_be_visible()
    box = usd.bounding_box()
    assert box is not None and box["width"] <= 390
    assert_no_sideways_scroll(page)
    # Printed, the figures are on paper too.
    page.emulate_media(media="print")
    assert table.bounding_box() is not None and table.bounding_box()["width"] > 100  # type: ignore[index]


def test_the_same_in_chinese(page: Page, demo: Account) -> None:
    assert amount_owed(demo, "USD") > Decimal("5.67")
    sign_in(page, DEMO_EMAIL, DEMO_PASSWORD)
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()
    expect(page.get_by_role("heading", name="发票", exact=True)).to_be_visible()

    chart = page.get_by_test_id("spend-chart")
    expect(chart.get_by_role("heading", name="最近 12 个月的支出")).to_be_visible()
    expect(chart.get_by_role("img", name="按类别的费用，最近 12 个月（USD）")).to_be_visible()
    expect(page.get_by_test_id("spend-table-usd").locator("tbody tr")).to_have_count(12)
    expect(page.get_by_test_id("spend-table-usd").locator("tbody th").last).to_contain_text("月")
    assert_accessible(page)

    _pay_by_card(
        page,
        "5.67",
        labels={
            "amount": "付款金额",
            "company": "使用公司信息",
            "holder": "持卡人",
            "number": "信用卡号",
            "expiry": "到期日期（月/年）",
            "cvc": "安全代码",
            "pay": "使用信用卡付款",
            "paid": "谢谢：您的付款已收到",
        },
    )
    page.get_by_role("navigation").get_by_role("link", name="账户活动").click()
    expect(page.get_by_role("heading", name="账户活动", exact=True)).to_be_visible()
    row = (
        page.get_by_test_id("activity-table").locator("tbody tr").filter(has_text="付款成功").first
    )
    expect(row).to_contain_text("5.67")
    expect(row).to_contain_text("信用卡")
    expect(row).to_contain_text("Visa •••• 4242")
    expect(row).to_contain_text(DEMO_EMAIL)
    assert_accessible(page)
