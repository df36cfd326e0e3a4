"""Take the README's screenshots of the demo's Invoices page again.

Start the demo (`make run`, which seeds it), then from the repository's root:

    python3 -m uv run --frozen python docs/screenshots.py [--base-url http://127.0.0.1:8000]

It signs in as the demo customer in Chromium (CHROMIUM_PATH, else /usr/bin/chromium) and
writes docs/screenshot-invoices.png (English, 1280x800), docs/screenshot-invoices-phone.png
(English, 390 px wide: the summary, the filters and the first invoices) and
docs/screenshot-invoices-zh.png (Chinese, 1280x800).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

DOCS = Path(__file__).resolve().parent
SHOTS = [
    # file, language, viewport, height shown (more than the screen: the page scrolled down)
    ("screenshot-invoices.png", "en", (1280, 800), 800),
    ("screenshot-invoices-phone.png", "en", (390, 844), 1500),
    ("screenshot-invoices-zh.png", "zh-hans", (1280, 800), 800),
]


def shoot(
    browser: Browser, base_url: str, name: str, language: str, size: tuple[int, int], height: int
) -> None:
    context = browser.new_context(
        base_url=base_url,
        viewport={"width": size[0], "height": size[1]},
        # The browser's own widgets (the date fields) follow the browser's language.
        locale="zh-CN" if language.startswith("zh") else "en-US",
    )
    context.add_cookies([{"name": "django_language", "value": language, "url": base_url}])
    page = context.new_page()
    page.goto("/login/")
    page.locator("#id_username").fill("demo@example.com")
    page.locator("#id_password").fill("demo-pass-2026")
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()
    page.goto("/billing/invoices/")
    page.get_by_test_id("invoice-table").wait_for()
    clip = {"x": 0, "y": 0, "width": size[0], "height": height}
    page.screenshot(path=DOCS / name, full_page=True, clip=clip)  # type: ignore[arg-type]
    context.close()
    print(f"wrote docs/{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        for name, language, size, height in SHOTS:
            shoot(browser, args.base_url, name, language, size, height)
        browser.close()


if __name__ == "__main__":
    main()
