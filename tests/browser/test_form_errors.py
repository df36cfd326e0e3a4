"""A form sent back with errors: the summary at its top has the focus and links to each
field in error; the card fields' frame grows with its errors and fits a phone."""

from __future__ import annotations

import pytest
from playwright.sync_api import FrameLocator, Page, expect

from accounts.models import Account
from tests.browser.conftest import fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_after_a_declined_card_the_summary_has_the_focus_and_leads_to_the_card(
    page: Page, demo: Account
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/payments/")
    page.get_by_label("Use company information").check()
    fill_card(page, "4000 0000 0000 0002")
    page.get_by_role("button", name="Pay with Credit Card").click()

    summary = page.get_by_test_id("payment-declined")
    expect(summary).to_be_focused()
    # A person reads the summary before following its link; by then the page's scripts run.
    page.wait_for_load_state("load")
    expect(summary).to_contain_text("The payment did not go through. Nothing was charged.")
    summary.get_by_role("link", name="Your card was declined.").click()
    expect(page.locator("#card-fields-frame")).to_be_focused()
    expect(page.frame_locator("#card-fields-frame").get_by_label("Card holder")).to_be_focused()


def test_after_a_validation_error_the_summary_links_to_each_field(
    page: Page, demo: Account
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    address = page.locator("#id_address_line1")
    # Required, and marked so; the form decides (the company's address would do too).
    expect(address).to_have_attribute("required", "")
    expect(page.locator("#id_city")).to_have_attribute("required", "")
    expect(page.locator("label[for=id_city] .required")).to_have_attribute("title", "required")
    fill_card(page, "3782 822463 10005", cvc="1234")
    page.get_by_role("button", name="Add Credit Card").click()

    summary = page.get_by_test_id("form-errors")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        ["Address: This field is required.", "City: This field is required."]
    )
    expect(address).to_have_attribute("aria-invalid", "true")
    expect(address).to_have_attribute("aria-describedby", "id_address_line1_error")
    expect(page.locator("#id_address_line1_error")).to_have_text("Error: This field is required.")
    summary.get_by_role("link", name="City: This field is required.").click()
    expect(page.locator("#id_city")).to_be_focused()


def _card_fields_fit(frame: FrameLocator) -> dict[str, float]:
    """How the frame's content sits in the frame: the lowest bottom and the rightmost edge
    of its fields and messages, the frame's own size, and the room left of the fields."""
    return frame.locator(":root").evaluate(
        """() => {
          const boxes = [...document.querySelectorAll("input, .error:not([hidden])")]
            .map((el) => el.getBoundingClientRect());
          return {
            bottom: Math.max(...boxes.map((b) => b.bottom)),
            right: Math.max(...boxes.map((b) => b.right)),
            left: Math.min(...boxes.map((b) => b.left)),
            width: window.innerWidth,
            height: window.innerHeight,
            errors: document.querySelectorAll(".error:not([hidden])").length,
          };
        }"""
    )


@pytest.mark.parametrize("width", [1280, 320])
def test_the_card_fields_frame_grows_with_its_errors_and_fits_a_phone(
    page: Page, demo: Account, width: int
) -> None:
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.goto("/billing/payment-methods/add/")
    frame = page.frame_locator("#card-fields-frame")
    expect(frame.get_by_label("Security code")).to_be_visible()
    before = page.locator("#card-fields-frame").bounding_box()
    assert before is not None

    # Nothing typed: every card field says what is missing.
    page.get_by_label("Use company information").check()
    page.get_by_role("button", name="Add Credit Card").click()
    expect(frame.locator(".error:not([hidden])")).to_have_count(4)
    expect(frame.locator("#cvc-error")).to_be_visible()
    page.wait_for_function(
        "(before) => document.getElementById('card-fields-frame')"
        ".getBoundingClientRect().height > before",
        arg=before["height"],
    )
    fit = _card_fields_fit(frame)
    assert fit["errors"] == 4
    # All of it inside the frame: nothing cut off below or on the right...
    assert fit["bottom"] <= fit["height"], fit
    assert fit["right"] <= fit["width"] - 3, fit
    # ...and room around the fields for the focus outline (3px, 1px off the field).
    assert fit["left"] >= 4, fit
    # Focus goes to the first field to correct.
    expect(frame.get_by_label("Card holder")).to_be_focused()
    frame_box = page.locator("#card-fields-frame").bounding_box()
    assert frame_box is not None and frame_box["x"] + frame_box["width"] <= width
