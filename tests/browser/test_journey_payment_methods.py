from __future__ import annotations

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import Account
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import admin_sign_in, fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_adds_a_card_a_representative_approves_it(
    page: Page, demo: Account, browser, live_server
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_role("navigation", name="Main menu").get_by_role(
        "link", name="Payment Methods"
    ).click()
    page.get_by_role("link", name="Add Credit Card").click()

    page.get_by_label("Use company information").check()
    expect(page.get_by_role("textbox", name="Address", exact=True)).to_have_value(
        "浦东新区世纪大道100号"
    )
    expect(page.get_by_label("City")).to_have_value("上海市")
    assert_accessible(page)
    page.get_by_label("Contact email").fill("cards@example.com")
    # The demo's monthly card is already on file: the same card again is refused.
    fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(page.get_by_role("alert")).to_contain_text("This card is already on file")
    assert_accessible(page)

    page.get_by_label("Use company information").check()
    page.get_by_label("Contact email").fill("cards@example.com")
    fill_card(page, "3782 822463 10005", cvc="1234")
    page.get_by_role("button", name="Add Credit Card").click()

    expect(page.get_by_test_id("card-outcome")).to_have_text(
        "Your card ending 0005 passed the card issuer's check and is pending approval by an "
        "account representative within 24 hours."
    )
    rows = page.get_by_test_id("card-table").locator("tbody tr")
    new_card = rows.filter(has_text="American Express •••• 0005").filter(has_text="Pending")
    expect(new_card).to_have_count(1)
    assert_accessible(page)

    # The account representative approves it in the admin.
    rep = browser.new_context(base_url=live_server.url).new_page()
    admin_sign_in(rep, "rep@example.com", "rep-pass-2026", totp_secret="JBSWY3DPEHPK3PXP")
    expect(rep.get_by_text("Site administration")).to_be_visible()
    rep.goto("/admin/payments/paymentmethod/?queue=awaiting")
    rep.get_by_role("row").filter(has_text="•••• 0005").get_by_role("checkbox").check()
    rep.get_by_label("Action:").select_option("approve")
    rep.get_by_role("button", name="Run").click()
    expect(rep.get_by_text("Approved 1 card.")).to_be_visible()
    rep.context.close()

    page.reload()
    approved = (
        page.get_by_test_id("card-table").locator("tbody tr").filter(has_text="Verified; not used")
    )
    expect(approved).to_have_count(1)
    approved.get_by_role("button", name="Make monthly").click()
    expect(page.get_by_text("is now the monthly payment method")).to_be_visible()

    # The contact given with the card hears of each change, in the account's language.
    subjects = [m.subject for m in mail.outbox if m.to == ["cards@example.com"]]
    assert subjects == [
        "您尾号为 0005 的信用卡正在验证",
        "您尾号为 0005 的信用卡等待批准",
        "您尾号为 0005 的信用卡已通过验证",
    ]


def test_a_declined_card_is_rejected_with_the_reason(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Add Credit Card").click()
    row = page.get_by_test_id("card-table").locator("tbody tr").filter(has_text="•••• 0002")
    expect(row.get_by_test_id("card-state")).to_have_text("Rejected")
    expect(row).to_contain_text("Your card was declined.")
    # What the page says above the row is what happened: an error, with the reason.
    outcome = page.get_by_role("alert").filter(has_text="0002")
    expect(outcome).to_have_text(
        "Your card ending 0002 was not accepted: Your card was declined. Check the card "
        "details or add another card."
    )
    expect(outcome).to_have_class("message message-error")
    expect(page.get_by_text("pending verification")).to_have_count(0)
    assert_accessible(page)


def test_card_fields_catch_bad_input_before_any_token(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Contact email").fill("typed@example.com")
    fields = fill_card(page, "4242 4242 4242 4241", holder="WANG", expiry="01/20", cvc="12")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(fields.get_by_text("The card number is invalid.")).to_be_visible()
    expect(fields.get_by_text("The expiry date is invalid or in the past.")).to_be_visible()
    expect(fields.get_by_text("Enter the 3-digit security code.")).to_be_visible()
    assert_accessible(page)
    expect(page.get_by_label("Contact email")).to_have_value("typed@example.com")
    assert "/add/" in page.url
