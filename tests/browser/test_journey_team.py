"""The account's team in the browser: the owner invites a billing user and a viewer; each
accepts from the emailed link, choosing a password; the billing user pays, the viewer only
sees."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import Account, Membership, OutboundEmail, User
from tests.accounts.otp_codes import next_code
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import fill_card, sign_in

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a long enough passphrase 2026"


def _invite(page: Page, email: str, role: str) -> str:
    page.goto("/account/settings/")
    form = page.get_by_test_id("invite-form")
    form.get_by_label("Email address").fill(email)
    form.get_by_label("Role").select_option(label=role)
    form.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(f"An invitation was sent to {email}.")).to_be_visible()
    sent = OutboundEmail.objects.get(to=[email], key__startswith="accounts.invitation.")
    match = re.search(r"https?://[^/\s]+(/account/invitation/[\w-]+/)", sent.body)
    assert match, sent.body
    return match.group(1)


def _accept(browser: Browser, live_server: Any, link: str, name: str) -> Page:
    page = browser.new_context(locale="en-US", base_url=live_server.url).new_page()
    page.goto(link)
    expect(page.get_by_test_id("invitation-offer")).to_contain_text("invites you to join")
    page.get_by_label("Full name").fill(name)
    page.get_by_label(re.compile(r"^Password(?! again)")).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Accept the invitation").click()
    expect(page.get_by_text("You joined")).to_be_visible()
    return page


def test_the_owner_invites_a_billing_user_who_pays_and_a_viewer_who_only_sees(
    page: Page, demo: Account, browser: Browser, live_server: Any
) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    billing_link = _invite(page, "billing.colleague@example.com", "Billing")
    viewer_link = _invite(page, "viewer.colleague@example.com", "Viewer")
    pending = page.get_by_test_id("invitations")
    expect(pending).to_contain_text("billing.colleague@example.com")
    expect(pending).to_contain_text("viewer.colleague@example.com")
    assert_accessible(page)

    colleague = _accept(browser, live_server, billing_link, "Zhang Wei")
    # They protect their sign-in with an authenticator, then sign in again with it.
    colleague.goto("/account/settings/")
    colleague.get_by_role("link", name="Your two-factor sign-in").click()
    colleague.get_by_role("link", name="Set up two-factor sign-in").click()
    expect(colleague.locator(".qr-code svg")).to_be_visible()
    assert_accessible(colleague)
    user = User.objects.get(email="billing.colleague@example.com")
    colleague.get_by_role("textbox", name="Code").fill(next_code(user, confirmed=False))
    colleague.get_by_role("button", name="Turn on").click()
    expect(colleague.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    assert_accessible(colleague)
    colleague.get_by_role("link", name="Continue").click()
    colleague.get_by_role("button", name="Sign out").click()
    sign_in(colleague, "billing.colleague@example.com", PASSWORD)
    expect(colleague.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    assert_accessible(colleague)
    colleague.get_by_role("textbox", name="Code").fill(next_code(user))
    colleague.get_by_role("button", name="Sign in").click()

    colleague.goto("/payments/")
    colleague.get_by_label("Payment Amount").fill("10.00")
    colleague.get_by_label("Use company information").check()
    fill_card(colleague, "4242 4242 4242 4242")
    colleague.get_by_role("button", name="Pay with Credit Card").click()
    expect(colleague.get_by_test_id("payment-result")).to_have_text(
        "Thank you: your payment was received"
    )
    # The link worked once.
    colleague.goto(billing_link)
    expect(colleague.get_by_test_id("invitation-closed")).to_be_visible()
    assert_accessible(colleague)
    colleague.context.close()

    viewer = _accept(browser, live_server, viewer_link, "Li Na")
    viewer.goto("/payments/")
    expect(viewer.get_by_role("button", name="Pay with Credit Card")).to_have_count(0)
    viewer.goto("/billing/invoices/")
    expect(viewer.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()
    viewer.context.close()

    roles = dict(Membership.objects.filter(account=demo).values_list("user__email", "role"))
    assert roles["billing.colleague@example.com"] == Membership.Role.BILLING
    assert roles["viewer.colleague@example.com"] == Membership.Role.VIEWER

    # The owner sees who joined, and removes the viewer.
    page.goto("/account/settings/")
    expect(page.get_by_test_id("team-activity")).to_contain_text("An invitation was accepted")
    page.get_by_role("button", name="Remove viewer.colleague@example.com").click()
    expect(page.get_by_text("The member was removed.")).to_be_visible()
    assert_accessible(page)
    expect(page.get_by_test_id("members")).not_to_contain_text("viewer.colleague@example.com")
