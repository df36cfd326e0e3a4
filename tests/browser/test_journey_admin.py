"""The account representative's admin in a browser at 1280x800, in English and Chinese: axe-core
finds nothing on the pages they use, the card queue fits the screen, and a refund is confirmed
with its numbers before the gateway hears of it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from accounts.models import Account
from payments.models import Payment, PaymentMethod, PaymentRefund
from sandbox_gateway.models import SandboxRequest
from tests.browser.conftest import admin_sign_in, totp_now

pytestmark = pytest.mark.django_db(transaction=True)

LOCALES = {"en": "en-US", "zh": "zh-CN"}
REP = ("rep@example.com", "rep-pass-2026")
REP_TOTP = "JBSWY3DPEHPK3PXP"

axe = Axe()


@pytest.fixture(params=list(LOCALES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rep_page(browser: Browser, live_server: object, language: str) -> Iterator[Page]:
    context = browser.new_context(
        locale=LOCALES[language],
        base_url=live_server.url,  # type: ignore[attr-defined]
        viewport={"width": 1280, "height": 800},
    )
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def assert_no_axe_violations(page: Page, where: str) -> None:
    """Every rule axe-core runs, any impact: none may fail on the page."""
    violations = axe.run(page).response["violations"]
    found = [
        f"{v['id']} ({v['impact']}): {[node['target'] for node in v['nodes']][:3]}"
        for v in violations
    ]
    assert not found, f"{where}: {found}"


def sign_in(page: Page) -> None:
    """`admin_sign_in` by the fields' names, so that it works in either language."""
    page.goto("/admin/login/")
    assert_no_axe_violations(page, "login")
    page.locator("input[name=username]").fill(REP[0])
    page.locator("input[name=password]").fill(REP[1])
    page.locator("input[name=otp_token]").fill(totp_now(REP_TOTP))
    page.locator("#login-form input[type=submit]").click()
    expect(page.locator("#user-tools")).to_be_visible()


def run_action(page: Page, action: str, *checked: str) -> None:
    for row in checked:
        page.get_by_role("row").filter(has_text=row).get_by_role("checkbox").check()
    page.locator("select[name=action]").select_option(action)
    page.locator("button[name=index]").click()


def test_the_representatives_admin_pages_have_no_axe_violations(
    rep_page: Page, demo: Account
) -> None:
    page = rep_page
    pending = PaymentMethod.objects.get(state=PaymentMethod.State.AWAITING_APPROVAL)
    payment = Payment.objects.filter(method=Payment.Method.CARD).first()
    assert payment is not None
    invoice = payment.allocations.first().allocation.invoice  # type: ignore[union-attr]

    sign_in(page)
    assert_no_axe_violations(page, "index")

    page.goto("/admin/payments/paymentmethod/?queue=awaiting")
    assert_no_axe_violations(page, "card queue")
    page.goto(f"/admin/payments/paymentmethod/{pending.pk}/change/")
    assert_no_axe_violations(page, "card")

    page.goto("/admin/payments/paymentmethod/?queue=awaiting")
    run_action(page, "reject", f"•••• {pending.last4}")
    expect(page.locator("input[name=reason]")).to_be_visible()
    assert_no_axe_violations(page, "reject form")
    page.goto("/admin/payments/paymentmethod/?queue=awaiting")
    run_action(page, "approve", f"•••• {pending.last4}")
    expect(page.locator(".messagelist")).to_be_visible()
    assert_no_axe_violations(page, "approved (with a message)")

    page.goto("/admin/payments/payment/")
    assert_no_axe_violations(page, "payments")
    page.goto(f"/admin/payments/payment/{payment.pk}/change/")
    assert_no_axe_violations(page, "payment")
    page.goto(f"/admin/payments/payment/{payment.pk}/refund/")
    assert_no_axe_violations(page, "refund form")
    page.locator("input[name=amount]").fill("1.00")
    page.locator("input[name=reason]").fill("Goodwill")
    page.locator("input[type=submit]").click()
    expect(page.get_by_test_id("refund-summary")).to_be_visible()
    assert_no_axe_violations(page, "refund confirmation")

    page.goto("/admin/invoices/invoice/")
    assert_no_axe_violations(page, "invoices")
    page.goto(f"/admin/invoices/invoice/{invoice.pk}/change/")
    assert_no_axe_violations(page, "invoice")
    page.goto("/admin/invoices/invoice/issue-one-time/")
    assert_no_axe_violations(page, "issue a one-time invoice")
    page.goto("/admin/invoices/invoice/")
    run_action(page, "issue_credit", invoice.number)
    expect(page.locator("input[name=reason]")).to_be_visible()
    assert_no_axe_violations(page, "issue a credit")


def test_the_card_queue_fits_a_1280_px_screen(rep_page: Page, demo: Account) -> None:
    page = rep_page
    pending = PaymentMethod.objects.get(state=PaymentMethod.State.AWAITING_APPROVAL)
    sign_in(page)
    for url in (
        "/admin/payments/paymentmethod/?queue=awaiting",
        "/admin/payments/paymentmethod/",
        "/admin/payments/payment/",
        "/admin/invoices/invoice/",
    ):
        page.goto(url)
        table, box, window = page.evaluate(
            """() => [document.querySelector('#result_list').scrollWidth,
                      document.querySelector('#changelist-form .results').clientWidth,
                      document.documentElement.scrollWidth]"""
        )
        assert table <= box, f"{url}: the results table is {table} px in a {box} px box"
        assert window <= 1280, url

    page.goto("/admin/payments/paymentmethod/?queue=awaiting")
    row = page.locator("#result_list tbody tr").filter(has_text=f"•••• {pending.last4}")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(pending.brand_label)
    expect(row).to_contain_text(pending.account.company_name)
    expect(row.locator("td.field-time_left")).to_have_text(
        re.compile(r"^\d+ (h|小时) \d\d (min|分)$")
    )
    for cell in row.locator("td, th").all():
        expect(cell).to_be_in_viewport()
    expect(page.locator("select[name=action] option[value=approve]")).to_have_count(1)
    expect(page.locator("select[name=action] option[value=reject]")).to_have_count(1)


def test_a_refund_is_confirmed_with_its_numbers_and_sent_once(page: Page, demo: Account) -> None:
    payment = Payment.objects.filter(method=Payment.Method.CARD).first()
    assert payment is not None
    page.set_viewport_size({"width": 1280, "height": 800})
    admin_sign_in(page, *REP, totp_secret=REP_TOTP)
    page.goto(f"/admin/payments/payment/{payment.pk}/change/")
    page.get_by_role("link", name="Refund this payment").click()
    page.get_by_label("Amount").fill("10.00")
    page.get_by_label("Reason").fill("Server down for a day")
    page.get_by_role("button", name="Review the refund").click()

    expect(page.get_by_role("heading", name="Are you sure?")).to_be_visible()
    expect(page.get_by_test_id("refund-question")).to_contain_text("Refund $10.00 to")
    sees = page.get_by_test_id("refund-customer-sees")
    expect(sees).to_contain_text("$10.00 back on the card that paid")
    expect(sees).to_contain_text("A Refund invoice against INV-")
    assert not PaymentRefund.objects.exists()
    assert not SandboxRequest.objects.filter(kind="refund").exists()

    page.get_by_role("link", name="No, take me back").click()
    expect(page).to_have_url(re.compile(rf"/admin/payments/payment/{payment.pk}/change/$"))
    assert not PaymentRefund.objects.exists()

    page.get_by_role("link", name="Refund this payment").click()
    page.get_by_label("Amount").fill("10.00")
    page.get_by_label("Reason").fill("Server down for a day")
    page.get_by_role("button", name="Review the refund").click()
    # The confirmation sent twice (a double click): once by script, then by the button.
    status = page.evaluate(
        """() => {
            const form = document.querySelector("#content form[method=post]");
            return fetch(location.href, {method: "POST", body: new FormData(form)})
                .then((response) => response.status);
        }"""
    )
    assert status == 200  # the redirect to the payment, followed
    page.get_by_role("button", name="Yes, refund $10.00").click()
    expect(page.get_by_text("Refund of $10.00: Refunded.")).to_be_visible()
    assert PaymentRefund.objects.count() == 1
    assert SandboxRequest.objects.filter(kind="refund").count() == 1
