"""Keyboard only: signing in, adding a card and paying once with Tab, Shift+Tab, Space and
Enter, typing into each field once the focus is on it, the card into the gateway's frame,
and sending each form with Enter from the card's last field. No clicks, no filling by
locator."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Account
from payments.models import Payment, PaymentMethod
from payments.selectors import amount_owed
from tests.browser.keyboard import focused, tab_to

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in_by_keyboard(page: Page) -> None:
    page.goto("/")
    tab_to(page, "Email address")
    page.keyboard.type("demo@example.com")
    page.keyboard.press("Tab")
    assert focused(page) == "Password"
    page.keyboard.type("demo-pass-2026")
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _type_card(page: Page, number: str, cvc: str = "123") -> None:
    """From the card holder field in the frame: each field, then Tab to the next."""
    assert focused(page) == "frame: Card holder"
    page.keyboard.type("WANG XIAOMING")
    page.keyboard.press("Tab")
    assert focused(page) == "frame: Card number"
    page.keyboard.type(number)
    page.keyboard.press("Tab")
    assert focused(page) == "frame: Expiry date (MM/YY)"
    page.keyboard.type("12/30")
    page.keyboard.press("Tab")
    assert focused(page) == "frame: Security code"
    page.keyboard.type(cvc)


def test_adding_a_card_and_paying_once_with_the_keyboard_alone(page: Page, demo: Account) -> None:
    _sign_in_by_keyboard(page)
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()

    # Account > Billing > Payment Methods > Add Credit Card.
    tab_to(page, "Payment Methods")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "Add Credit Card")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Add Credit Card")).to_be_visible()

    # "Use company information" with Space: the address fields it fills are read only and
    # out of the tab order, so the next Tab is the card holder in the gateway's frame...
    tab_to(page, "Use company information")
    page.keyboard.press("Space")
    expect(page.get_by_label("Use company information")).to_be_checked()
    expect(page.get_by_label("City")).to_have_value("上海市")
    expect(page.get_by_label("City")).to_have_attribute("readonly", "")
    page.keyboard.press("Tab")
    assert focused(page) == "frame: Card holder"
    # ...and unticked, they are fields again, with their tab stops.
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Use company information"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert focused(page) == "Address"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")

    _type_card(page, "3782 822463 10005", cvc="1234")
    # Enter in the card's last field sends the form, as "Add Credit Card" would.
    with page.expect_navigation(url="**/payment-methods/?added=*"):
        page.keyboard.press("Enter")
    expect(page.get_by_test_id("card-outcome")).to_contain_text("Your card ending 0005")
    method = PaymentMethod.objects.get(account=demo, last4="0005")
    assert method.address_line1 == demo.address_line1

    # Account > Payments: the whole balance, by card, the form sent with Enter again.
    owed = amount_owed(demo, "USD")
    tab_to(page, "Payments")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, "Payment Amount")
    tab_to(page, "Use company information")
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    _type_card(page, "4242 4242 4242 4242")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    payment = Payment.objects.filter(account=demo).latest("pk")
    assert payment.state == Payment.State.SUCCEEDED and payment.amount == owed
    assert payment.payment_method_id is None  # paid once: nothing kept
    assert amount_owed(demo, "USD") == 0


def test_expanding_an_item_with_enter_keeps_the_focus_on_its_toggle(
    page: Page, demo: Account
) -> None:
    _sign_in_by_keyboard(page)
    rows = page.get_by_test_id("invoice-table").locator("tbody tr")
    href = rows.filter(has_text="Recurring").first.get_by_role("link").first.get_attribute("href")
    assert href
    page.goto(href)
    expect(page.get_by_test_id("invoice-number")).to_be_visible()
    toggle = page.get_by_role("link", name="Bare Metal Server")
    focused_name = " ".join(toggle.inner_text().split())
    tab_to(page, focused_name)
    expect(toggle).to_have_attribute("aria-expanded", "false")

    page.keyboard.press("Enter")
    expect(page.get_by_text("256 GB RAM")).to_be_visible()
    toggle = page.get_by_role("link", name="Bare Metal Server")
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_be_focused()

    # htmx wires the swapped-in toggle up as the swap settles: a person is never that fast.
    expect(page.locator(".htmx-added, .htmx-settling")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(page.get_by_text("256 GB RAM")).to_have_count(0)
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(toggle).to_be_focused()
    assert focused(page) == focused_name
