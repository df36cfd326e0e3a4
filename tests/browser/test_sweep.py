"""Every page of the portal, signed out and signed in, with the demo data: in English and
Chinese, on a desktop (1280x800) and a phone (390x844), axe-core finds no violation of any
impact and no page scrolls sideways; on a small phone (320 px) nothing scrolls sideways.

The demo data is seeded once for the module and shared by every language and width (each a
browser context of its own); what a visit changes (a sign-in, a second factor set up, a
cancelled PayPal order) is made by users and orders of that visit's own. The admin is left to
its own tests.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from playwright.sync_api import Browser, Page, expect
from pytest_django.live_server_helper import LiveServer

from accounts.models import Account, Membership, User
from accounts.team import team_invite, team_revoke
from invoices.models import Invoice, InvoiceItem
from payments.card_checks import BillingAddress
from payments.core import new_key
from payments.models import Payment
from payments.one_time import payment_pay_by_card
from portal.celery import app as celery_app
from sandbox_gateway.processor import tokenize
from tests.accounts.otp_codes import next_code
from tests.browser.accessibility import accessibility_problems, sideways_scroll_problem
from tests.factories import PASSWORD, MembershipFactory, UserFactory

DEMO_EMAIL, DEMO_PASSWORD = "demo@example.com", "demo-pass-2026"
DESKTOP, PHONE, SMALL_PHONE = (1280, 800), (390, 844), (320, 640)
LANGUAGES = ("en", "zh-hans")
# The browser contexts the tests open: a language at a width (and users of their own).
CONTEXTS = [(language, size) for size in (DESKTOP, PHONE, SMALL_PHONE) for language in LANGUAGES]

pytestmark = pytest.mark.django_db


def _slug(language: str, size: tuple[int, int]) -> str:
    return f"{language}-{size[0]}"


@dataclass(frozen=True)
class Site:
    """The live server and the demo objects whose pages need them."""

    url: str
    invoice_with_items: int
    item_with_details: int
    credit_invoice: int
    # Open USD invoices to choose on the Payments page ("Pay selected").
    open_invoices: tuple[int, ...]
    succeeded_payment: int
    declined_payment: int
    invitation_for_new_user: str
    invitation_for_existing_user: str
    closed_invitation: str


def _declined_payment(account: Account, user: User) -> Payment:
    today = timezone.localdate()
    card, errors = tokenize(
        number="4000000000000002",
        exp_month="12",
        exp_year=str(today.year + 2),
        cvc="123",
        holder="Wang Xiaoming",
        today=today,
    )
    assert card is not None, errors
    return payment_pay_by_card(
        account=account,
        by=user,
        token=card.token,
        amount=Decimal("10.00"),
        currency=account.currency,
        key=new_key(),
        address=BillingAddress.of_account(account),
    )


@pytest.fixture(scope="module")
def site(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The demo data, seeded once and committed, behind a live server of the module's own
    (the `live_server` fixture would empty the database after every test); the database is
    emptied after the module, as after a transactional test. Each test runs in a
    transaction of its own, as a `db` test does, and reads what the server writes."""
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    with (
        django_db_blocker.unblock(),  # type: ignore[attr-defined]
        override_settings(
            MEDIA_ROOT=str(tmp_path_factory.mktemp("media")),
            STORAGES=storages,
            # Signing in a few dozen times: a quick hash (test users only).
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        ),
    ):
        try:
            call_command("seed_demo", stdout=io.StringIO())
            account = Account.objects.get(memberships__user__email=DEMO_EMAIL)
            demo = User.objects.get(email=DEMO_EMAIL)
            item = (
                InvoiceItem.objects.filter(
                    invoice__account=account, parent=None, details__isnull=False
                )
                .order_by("-invoice__issue_date", "pk")
                .distinct()
                .first()
            )
            credit = Invoice.objects.filter(account=account, type=Invoice.Type.CREDIT).first()
            succeeded = (
                Payment.objects.filter(account=account, state=Payment.State.SUCCEEDED)
                .order_by("pk")
                .first()
            )
            assert item is not None and credit is not None and succeeded is not None
            existing = UserFactory(email="existing.colleague@example.com")
            for language, size in CONTEXTS:
                # Users of the context's own: committed here, where the live server sees them
                # (a test's own writes stay in its transaction).
                # A member of staff with no customer account, and no authenticator yet.
                UserFactory(email=f"no-account-{_slug(language, size)}@example.com", is_staff=True)
                MembershipFactory(
                    user=UserFactory(email=f"viewer-{_slug(language, size)}@example.com"),
                    account=account,
                    role=Membership.Role.VIEWER,
                )
            closed = team_invite(
                account=account, by=demo, email="withdrawn@example.com", role="viewer"
            )
            team_revoke(account=account, by=demo, invitation_id=closed.invitation.pk)
            server = LiveServer("localhost")
            server._live_server_modified_settings.enable()
            try:
                yield Site(
                    url=server.url,
                    invoice_with_items=item.invoice_id,
                    item_with_details=item.pk,
                    credit_invoice=credit.pk,
                    open_invoices=tuple(
                        Invoice.objects.filter(
                            account=account, currency="USD", state=Invoice.State.OPEN
                        )
                        .order_by("-issue_date", "-pk")
                        .values_list("pk", flat=True)[:2]
                    ),
                    succeeded_payment=succeeded.pk,
                    declined_payment=_declined_payment(account, demo).pk,
                    invitation_for_new_user=_invitation_path(
                        account, demo, "new.colleague@example.com"
                    ),
                    invitation_for_existing_user=_invitation_path(account, demo, existing.email),
                    closed_invitation=f"/account/invitation/{closed.token}/",
                )
            finally:
                server._live_server_modified_settings.disable()
                server.stop()
        finally:
            celery_app.conf.task_always_eager = eager
            call_command("flush", interactive=False, verbosity=0)


def _invitation_path(account: Account, by: User, email: str) -> str:
    sent = team_invite(account=account, by=by, email=email, role="billing")
    return f"/account/invitation/{sent.token}/"


@dataclass
class Sweep:
    """One browser context (a language and a width) going through the pages; each page's
    problems are collected, so that one run reports them all."""

    page: Page
    tag: str
    axe: bool
    problems: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def check(self, what: str) -> None:
        self.page.wait_for_load_state()
        if os.environ.get("SWEEP_TIMES"):
            print(f"{time.monotonic():.1f} {what}")
        self.seen.append(what)
        found = [sideways_scroll_problem(self.page)]
        if self.axe:
            found.append(accessibility_problems(self.page))
        self.problems.extend(f"[{self.tag}] {what}: {problem}" for problem in found if problem)

    def go(self, url: str, what: str) -> None:
        self.page.goto(url)
        self.check(what)

    def sign_in(self, email: str, password: str) -> None:
        self.page.goto("/login/")
        self.page.locator("#id_username").fill(email)
        self.page.locator("#id_password").fill(password)
        with self.page.expect_navigation():
            self.page.locator("main form button[type=submit]").click()

    def sign_out(self) -> None:
        self.page.locator(".site-header form[action='/logout/'] button").click()
        self.page.wait_for_url("**/login/**")


def _sweep(
    browser: Browser, site: Site, language: str, viewport: tuple[int, int], *, axe: bool
) -> Sweep:
    width, height = viewport
    context = browser.new_context(
        locale="en-US", base_url=site.url, viewport={"width": width, "height": height}
    )
    context.set_default_timeout(15_000)
    context.add_cookies(
        [{"name": settings.LANGUAGE_COOKIE_NAME, "value": language, "url": site.url}]
    )
    tag = f"{language} {width}px"
    sweep = Sweep(context.new_page(), tag=tag, axe=axe)
    try:
        _signed_out_pages(sweep, site, slug=_slug(language, viewport))
        _signed_in_pages(sweep, site)
        _other_users_pages(sweep, slug=_slug(language, viewport))
    finally:
        context.close()
    return sweep


def _signed_out_pages(sweep: Sweep, site: Site, *, slug: str) -> None:
    page = sweep.page
    sweep.go("/login/", "sign-in")
    page.locator("#id_username").fill(f"nobody-{slug}@example.com")
    page.locator("#id_password").fill("not the password")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("login-error")).to_be_visible()
    sweep.check("sign-in, wrong password")
    # Too many failed sign-ins for one address (two, to be quick).
    with override_settings(AXES_FAILURE_LIMIT=2):
        for _attempt in range(2):
            page.locator("#id_username").fill(f"locked-{slug}@example.com")
            page.locator("#id_password").fill("not the password")
            page.locator("main form button[type=submit]").click()
            page.wait_for_load_state()
        expect(page.get_by_test_id("locked-out")).to_be_visible()
        sweep.check("too many failed sign-in attempts")

    sweep.go("/password_reset/", "password reset")
    sweep.go("/password_reset/done/", "password reset, email sent")
    demo = User.objects.get(email=DEMO_EMAIL)
    uid = urlsafe_base64_encode(force_bytes(demo.pk))
    sweep.go(f"/reset/{uid}/{default_token_generator.make_token(demo)}/", "new password")
    sweep.go(f"/reset/{uid}/not-a-token/", "new password, link invalid")
    sweep.go("/reset/done/", "password changed")

    sweep.go(site.invitation_for_new_user, "invitation, new user")
    page.locator("main form button[type=submit]").click()
    sweep.check("invitation, new user, form with errors")
    sweep.go(site.invitation_for_existing_user, "invitation, existing user")
    sweep.go(site.closed_invitation, "invitation, link closed")

    # Anything like a card number sent to the portal itself is refused.
    page.goto("/login/")
    page.locator("#id_username").fill("4242 4242 4242 4242")
    page.locator("#id_password").fill("not the password")
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("card-data-refused")).to_be_visible()
    sweep.check("card data refused")


def _today() -> str:
    return timezone.localdate().isoformat()


def _signed_in_pages(sweep: Sweep, site: Site) -> None:
    page = sweep.page
    sweep.sign_in(DEMO_EMAIL, DEMO_PASSWORD)
    sweep.go("/billing/invoices/", "invoices")
    expect(page.get_by_test_id("spend-chart").locator("svg.chart").first).to_be_visible()
    sweep.go(
        "/billing/invoices/?type=credit&date_from=2001-01-01&date_to=2001-01-02",
        "invoices, nothing matches the filters",
    )
    detail = f"/billing/invoices/{site.invoice_with_items}/"
    sweep.go(f"{detail}?expand={site.item_with_details}", "invoice with an item expanded")
    sweep.go(f"/billing/invoices/{site.credit_invoice}/", "credit invoice")
    sweep.go("/billing/statement/?start=2020-01-01&currency=USD&end=" + _today(), "statement")
    sweep.go(
        "/billing/statement/?start=2026-10-31&end=2026-10-01&currency=USD",
        "statement, end before start",
    )
    sweep.go("/billing/next-invoice/", "next invoice (estimate)")

    sweep.go("/billing/invoices/?status=overdue", "invoices, overdue only")
    chosen = "&".join(f"invoice={pk}" for pk in site.open_invoices)
    sweep.go(f"/payments/?{chosen}", "payments, chosen invoices")
    sweep.go("/payments/?invoice=abc", "payments, chosen invoices unreadable")

    sweep.go("/payments/", "payments")
    page.locator("#id_amount").fill("0")
    page.get_by_test_id("pay-with-paypal").click()
    sweep.check("payments, amount refused")
    page.goto("/payments/")
    page.get_by_test_id("pay-with-paypal").click()
    page.wait_for_url("**/sandbox-gateway/paypal/**")
    sweep.check("PayPal sandbox checkout")
    page.locator("button.cancel").click()
    page.wait_for_url(lambda url: "/sandbox-gateway/" not in url)
    sweep.check("PayPal cancelled")
    sweep.go(f"/payments/{site.succeeded_payment}/", "payment received")
    sweep.go(f"/payments/{site.declined_payment}/", "payment declined")

    sweep.go("/billing/payment-methods/", "payment methods")
    sweep.go("/billing/payment-methods/add/", "add credit card")
    expect(page.frame_locator("#card-fields-frame").locator("#number")).to_be_visible()
    page.locator("#add-card-form > button[type=submit]").click()
    expect(page.frame_locator("#card-fields-frame").locator("#number-error")).to_be_visible()
    sweep.check("add credit card, form with errors")

    sweep.go("/account/settings/", "settings and team")
    page.locator("main form[novalidate]").first.locator("button[type=submit]").click()
    expect(page.locator(".messages")).to_be_visible()
    sweep.check("settings saved (a message)")
    sweep.go("/account/activity/", "account activity")
    sweep.go("/account/activity/?page=2", "account activity, page 2")
    sweep.go("/account/two-factor/", "two-factor sign-in, off")
    sweep.go("/account/two-factor/setup/", "two-factor sign-in, setup")

    # The card-testing limit, reached at once.
    with override_settings(CARD_DECLINES_PER_HOUR=0):
        page.goto("/billing/payment-methods/add/")
        page.locator("#id_use_company_info").check()
        fields = page.frame_locator("#card-fields-frame")
        fields.locator("#holder").fill("WANG XIAOMING")
        fields.locator("#number").fill("5555 5555 5555 4444")
        fields.locator("#expiry").fill("12/30")
        fields.locator("#cvc").fill("123")
        page.locator("#add-card-form > button[type=submit]").click()
        expect(page.get_by_test_id("too-many")).to_be_visible()
        sweep.check("too many card attempts")
    sweep.sign_out()


def _other_users_pages(sweep: Sweep, *, slug: str) -> None:
    page = sweep.page
    sweep.sign_in(f"no-account-{slug}@example.com", PASSWORD)
    sweep.check("no account")
    sweep.go("/account/two-factor/setup/", "two-factor sign-in, staff's is issued")
    expect(page.get_by_test_id("two-factor-staff")).to_be_visible()
    sweep.sign_out()

    viewer = User.objects.get(email=f"viewer-{slug}@example.com")
    sweep.sign_in(viewer.email, PASSWORD)
    sweep.go("/payments/", "payments, viewer (cannot pay)")
    page.goto("/account/two-factor/setup/")
    page.locator("#id_code").fill(next_code(viewer, confirmed=False))
    page.locator("main form button[type=submit]").click()
    expect(page.get_by_test_id("recovery-codes")).to_be_visible()
    sweep.check("recovery codes")
    sweep.sign_out()
    sweep.sign_in(viewer.email, PASSWORD)
    expect(page.locator("#id_code")).to_be_visible()
    sweep.check("two-factor sign-in, code")
    page.locator("#id_code").fill(next_code(viewer))
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/billing/invoices/**")
    sweep.go("/account/two-factor/", "two-factor sign-in, on")


def _report(sweep: Sweep) -> str:
    return f"{len(sweep.problems)} problem(s) on {len(sweep.seen)} pages:\n\n" + "\n\n".join(
        sweep.problems
    )


@pytest.mark.parametrize(
    ("language", "viewport"),
    [(language, size) for language, size in CONTEXTS if size != SMALL_PHONE],
    ids=["en-desktop", "zh-desktop", "en-phone", "zh-phone"],
)
def test_every_page_passes_axe_and_does_not_scroll_sideways(
    browser: Browser, site: Site, language: str, viewport: tuple[int, int]
) -> None:
    sweep = _sweep(browser, site, language, viewport, axe=True)
    assert not sweep.problems, _report(sweep)


@pytest.mark.parametrize("language", LANGUAGES, ids=["en", "zh"])
def test_no_page_scrolls_sideways_on_a_small_phone(
    browser: Browser, site: Site, language: str
) -> None:
    sweep = _sweep(browser, site, language, SMALL_PHONE, axe=False)
    assert not sweep.problems, _report(sweep)
