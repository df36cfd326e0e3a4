"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, FrameLocator, Page, expect, sync_playwright

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# A loaded CI machine answers slower than a laptop; wait for the page, not for a clock.
expect.set_options(timeout=20_000)

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}; `make test` installs it.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: object) -> Iterator[Page]:
    context = browser.new_context(locale="en-US", base_url=live_server.url)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def fill_card(
    page: Page,
    number: str,
    *,
    holder: str = "WANG XIAOMING",
    expiry: str = "12/30",
    cvc: str = "123",
) -> FrameLocator:
    """Type a card into the sandbox gateway's card fields, which sit in their own frame as a
    real gateway's do; returns the frame, where the fields show their errors."""
    fields = page.frame_locator("#card-fields-frame")
    fields.get_by_label("Card holder").fill(holder)
    fields.get_by_label("Card number").fill(number)
    fields.get_by_label("Expiry date (MM/YY)").fill(expiry)
    fields.get_by_label("Security code").fill(cvc)
    return fields


def totp_now(secret: str) -> str:
    """What an authenticator app set up with the base32 `secret` shows now."""
    from django_otp.oath import totp

    return str(totp(base64.b32decode(secret))).zfill(6)


def admin_sign_in(page: Page, email: str, password: str, *, totp_secret: str) -> None:
    """Sign in to the admin as a representative does: the password, then the code their
    authenticator app (set up with `totp_secret`) shows now."""
    page.goto("/admin/")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("OTP Token").fill(totp_now(totp_secret))
    page.get_by_role("button", name="Log in").click()
