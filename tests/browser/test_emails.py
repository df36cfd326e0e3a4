"""The HTML emails as a mail reader shows them, in Chromium: axe-core finds nothing wrong
(every rule, every impact), and a phone-wide window does not scroll sideways."""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.test import Client
from playwright.sync_api import Browser, Route

from accounts.models import Account, User
from tests.portal.emails import EMAILS, LANGUAGES, World, make_world

pytestmark = pytest.mark.django_db

# One of each way an email is laid out: a table of facts and a PDF (the invoice), a table of
# lines and a PDF (the receipt), a further link (a decline), no greeting (an invitation),
# and the one Django's password reset sends.
CHECKED = [
    "invoices/email/invoice_issued",
    "payments/email/receipt",
    "billing/email/charge_declined",
    "accounts/email/invitation",
    "registration/password_reset",
]


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    account: Account,
    owner: User,
    approver: User,
    client: Client,
    card_token,
    issue,
    pay_by_card,
    settings,
    tmp_path: Path,
) -> World:
    return make_world(
        request.param,
        settings=settings,
        tmp_path=tmp_path,
        account=account,
        owner=owner,
        approver=approver,
        client=client,
        card_token=card_token,
        issue=issue,
        pay_by_card=pay_by_card,
    )


@pytest.mark.parametrize("world", LANGUAGES, indirect=True)
@pytest.mark.parametrize("name", CHECKED)
def test_the_html_email_has_no_accessibility_violation(
    browser: Browser, name: str, world: World
) -> None:
    [(html, _type)] = EMAILS[name](world).alternatives  # type: ignore[attr-defined]
    # A mail reader loads nothing: any request the email makes fails the test.
    requests: list[str] = []

    def refuse(route: Route) -> None:
        requests.append(route.request.url)
        route.abort()

    for width in (1280, 320):
        context = browser.new_context(viewport={"width": width, "height": 800})
        context.route("**/*", refuse)
        try:
            page = context.new_page()
            page.set_content(html)
            results = Axe().run(page)
            assert results.violations_count == 0, (width, results.generate_report())
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            assert requests == []
        finally:
            context.close()
