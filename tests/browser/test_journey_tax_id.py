"""J6, the tax ID: the owner gives the account's VAT number in Settings, in English and in
Chinese; a mistyped number is refused next to the field and changes nothing; a valid one is
kept, and the account's next invoice from an EU seller in another member state is
reverse-charged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import Account, Membership, TaxIdStatus
from invoices.models import VatCategory
from invoices.services import ItemSpec, invoice_issue_one_time
from tests.browser.accessibility import assert_accessible
from tests.factories import PASSWORD, AccountFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

LOCALES = {"en": "en-US", "zh": "zh-CN"}
WORDS = {
    "en": {
        "kind": "Kind of tax ID",
        "eu": "EU VAT number",
        "number": "Tax ID",
        "save": "Save tax ID",
        "invalid": "This is not a valid EU VAT number",
        "saved": "The tax ID has been saved.",
        "valid": "valid",
    },
    "zh": {
        "kind": "税号类型",
        "eu": "欧盟增值税号",
        "number": "税号",
        "save": "保存税号",
        "invalid": "这不是有效的欧盟增值税号",
        "saved": "税号已保存。",
        "valid": "有效",
    },
}


@pytest.fixture(params=list(LOCALES))
def language(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def localized_page(browser: Browser, live_server: object, language: str) -> Iterator[Page]:
    context = browser.new_context(locale=LOCALES[language], base_url=live_server.url)  # type: ignore[attr-defined]
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def _sign_in(page: Page, email: str) -> None:
    """Sign in by the fields' names, so that it works in either language."""
    page.goto("/")
    page.locator("input[name=username]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("input[name=password]").press("Enter")


def test_the_owner_sets_a_vat_number_a_wrong_one_is_refused_a_right_one_kept(
    localized_page: Page,
    language: str,
    settings,  # type: ignore[no-untyped-def]
) -> None:
    page, words = localized_page, WORDS[language]
    account = AccountFactory(company_name="Exemple SARL", country="FR", currency="EUR")
    owner = UserFactory(email=f"owner-{language}@example.com")
    MembershipFactory(user=owner, account=account, role=Membership.Role.OWNER)
    _sign_in(page, owner.email)
    page.goto("/account/settings/")
    form = page.get_by_test_id("tax-id-form")

    form.get_by_label(words["kind"]).select_option(label=words["eu"])
    form.get_by_label(words["number"], exact=True).fill("FR 40 303 265 046")
    form.get_by_role("button", name=words["save"]).click()
    expect(page.locator(".field-error")).to_contain_text(words["invalid"])
    # The typed number stays in the field to be corrected.
    expect(form.get_by_label(words["number"], exact=True)).to_have_value("FR 40 303 265 046")
    assert_accessible(page)
    account.refresh_from_db()
    assert account.tax_id == ""

    form = page.get_by_test_id("tax-id-form")
    form.get_by_label(words["number"], exact=True).fill("FR 40 303 265 045")
    form.get_by_role("button", name=words["save"]).click()
    expect(page.get_by_text(words["saved"])).to_be_visible()
    expect(page.get_by_test_id("tax-id-status")).to_contain_text("FR40303265045")
    expect(page.get_by_test_id("tax-id-status")).to_contain_text(words["valid"])
    assert_accessible(page)
    account.refresh_from_db()
    assert (account.tax_id, account.tax_id_status) == ("FR40303265045", TaxIdStatus.VALID)

    # A German seller's next invoice to this French business is reverse-charged.
    settings.SELLER_COUNTRY = "DE"
    settings.SELLER_VAT_ID = "DE136695976"
    invoice = invoice_issue_one_time(
        account=Account.objects.get(pk=account.pk),
        items=[ItemSpec(description="Setup", unit_price=Decimal("100.00"))],
        issue_date=date(2026, 12, 1),
    )
    assert invoice.items.get().vat_category == VatCategory.REVERSE_CHARGE
    assert invoice.buyer_tax_id == "FR40303265045"
