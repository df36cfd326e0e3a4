from __future__ import annotations

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from accounts.models import Account
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def _totp_now(secret: str) -> str:
    """What the representative's authenticator app shows now."""
    import base64

    from django_otp.oath import totp

    return str(totp(base64.b32decode(secret))).zfill(6)


def _fill_card(page: Page, number: str) -> None:
    fields = page.frame_locator("#card-fields-frame")
    fields.get_by_label("Card holder").fill("WANG XIAOMING")
    fields.get_by_label("Card number").fill(number)
    fields.get_by_label("Expiry date (MM/YY)").fill("12/30")
    fields.get_by_label("Security code").fill("123")


def test_customer_adds_a_card_a_representative_approves_it(
    page: Page, demo: Account, browser, live_server
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_role("navigation", name="Main menu").get_by_role(
        "link", name="Payment Methods"
    ).click()
    page.get_by_role("link", name="Add Credit Card").click()

    page.get_by_label("Use company information").check()
    expect(page.get_by_label("Address", exact=True)).to_have_value("浦东新区世纪大道100号")
    expect(page.get_by_label("City")).to_have_value("上海市")
    page.get_by_label("Contact email").fill("cards@example.com")
    _fill_card(page, "4242 4242 4242 4242")
    page.get_by_role("button", name="Add Credit Card").click()

    expect(page.get_by_text("pending verification")).to_be_visible()
    rows = page.get_by_test_id("card-table").locator("tbody tr")
    new_card = rows.filter(has_text="Visa •••• 4242").filter(has_text="Pending")
    expect(new_card).to_have_count(1)

    # The account representative approves it in the admin.
    rep = browser.new_context(base_url=live_server.url).new_page()
    rep.goto("/admin/")
    rep.get_by_label("Email address").fill("rep@example.com")
    rep.get_by_label("Password").fill("rep-pass-2026")
    rep.get_by_label("OTP Token").fill(_totp_now("JBSWY3DPEHPK3PXP"))
    rep.get_by_role("button", name="Log in").click()
    expect(rep.get_by_text("Site administration")).to_be_visible()
    rep.goto("/admin/payments/paymentmethod/?queue=awaiting")
    rep.get_by_role("row").filter(has_text="Visa •••• 4242").get_by_role("checkbox").check()
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
        "您尾号为 4242 的信用卡正在验证",
        "您尾号为 4242 的信用卡等待批准",
        "您尾号为 4242 的信用卡已通过验证",
    ]


def test_a_declined_card_is_rejected_with_the_reason(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Use company information").check()
    _fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Add Credit Card").click()
    row = page.get_by_test_id("card-table").locator("tbody tr").filter(has_text="•••• 0002")
    expect(row.get_by_test_id("card-state")).to_have_text("Rejected")
    expect(row).to_contain_text("Your card was declined.")


def test_card_fields_catch_bad_input_before_any_token(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    page.get_by_label("Contact email").fill("typed@example.com")
    fields = page.frame_locator("#card-fields-frame")
    fields.get_by_label("Card holder").fill("WANG")
    fields.get_by_label("Card number").fill("4242 4242 4242 4241")
    fields.get_by_label("Expiry date (MM/YY)").fill("01/20")
    fields.get_by_label("Security code").fill("12")
    page.get_by_role("button", name="Add Credit Card").click()
    expect(fields.get_by_text("The card number is invalid.")).to_be_visible()
    expect(fields.get_by_text("The expiry date is invalid or in the past.")).to_be_visible()
    expect(fields.get_by_text("Enter the 3-digit security code.")).to_be_visible()
    expect(page.get_by_label("Contact email")).to_have_value("typed@example.com")
    assert "/add/" in page.url
