from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from accounts.models import Account, Membership
from invoices.einvoice_check import einvoice_problems
from invoices.models import Invoice
from tests.browser.accessibility import assert_accessible
from tests.browser.conftest import sign_in
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.invoices.einvoice_builders import SELLER, reverse_charge

pytestmark = pytest.mark.django_db(transaction=True)


def test_customer_downloads_an_invoice_as_pdf_and_csv(page: Page, demo: Account) -> None:
    sign_in(page, "demo@example.com", "demo-pass-2026")
    page.get_by_role("checkbox", name="Recurring", exact=True).check()
    page.get_by_role("button", name="Filter").click()
    page.get_by_test_id("invoice-table").locator("tbody tr").first.get_by_role("link").first.click()
    number = page.get_by_test_id("invoice-number").inner_text()
    assert_accessible(page)

    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Download PDF").click()
    pdf = pdf_download.value
    assert pdf.suggested_filename == f"invoice-{number}.pdf"
    text = PdfReader(pdf.path()).pages[0].extract_text()
    assert number in text and "上海云帆科技有限公司" in text and "Bare Metal Server" in text

    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Download CSV").click()
    assert csv_download.value.suggested_filename == f"invoice-{number}.csv"
    with open(csv_download.value.path(), encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][0] == number
    assert "Dual Intel Xeon Silver 4410Y (24 cores)" in [row[6] for row in rows]

    page.goto("/billing/invoices/?type=credit")
    with page.expect_download() as list_download:
        page.get_by_role("link", name="Download CSV").first.click()
    content = list_download.value.path().read_text(encoding="utf-8-sig")
    types = {row[2] for row in csv.reader(io.StringIO(content))} - {"Type"}
    assert types == {"Credit"}
    expect(page.get_by_role("heading", name="Invoices", exact=True)).to_be_visible()


@pytest.fixture
def reverse_charge_invoice(settings: object) -> Invoice:
    for name, value in SELLER.items():
        setattr(settings, name, value)
    invoice = reverse_charge()
    user = UserFactory(email="buchhaltung@kunde.example")
    MembershipFactory(user=user, account=invoice.account, role=Membership.Role.OWNER)
    return invoice


def test_a_reverse_charge_invoice_shows_its_vat_and_downloads_as_an_e_invoice(
    page: Page, reverse_charge_invoice: Invoice
) -> None:
    invoice = reverse_charge_invoice
    sign_in(page, "buchhaltung@kunde.example", PASSWORD)
    page.goto(f"/billing/invoices/{invoice.pk}/")
    breakdown = page.get_by_test_id("vat-breakdown")
    expect(page.get_by_role("heading", name="VAT breakdown")).to_be_visible()
    expect(breakdown.get_by_role("cell", name="Reverse charge")).to_be_visible()
    expect(page.get_by_test_id("tax-note")).to_contain_text(
        "Reverse charge: VAT to be accounted for by the recipient, Article 196"
    )
    expect(page.get_by_test_id("seller-tax-id")).to_have_text("VAT number: FR40303265045")
    expect(page.get_by_test_id("buyer-tax-id")).to_have_text("VAT number: DE136695976")
    assert_accessible(page)

    with page.expect_download() as xml_download:
        page.get_by_role("link", name="Download e-invoice (XML)").click()
    assert xml_download.value.suggested_filename == f"invoice-{invoice.number}.xml"
    xml = xml_download.value.path().read_bytes()
    assert einvoice_problems(xml) == []
    with page.expect_download() as pdf_download:
        page.get_by_role("link", name="Download PDF").click()
    assert PdfReader(pdf_download.value.path()).attachments["factur-x.xml"] == [xml]

    # On a phone: the breakdown's rows stack, nothing runs off the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(breakdown.get_by_text("Taxable amount").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_accessible(page)


def test_the_e_invoice_journey_in_chinese(page: Page, reverse_charge_invoice: Invoice) -> None:
    invoice = reverse_charge_invoice
    sign_in(page, "buchhaltung@kunde.example", PASSWORD)
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()
    page.goto(f"/billing/invoices/{invoice.pk}/")
    expect(page.get_by_role("heading", name="增值税明细")).to_be_visible()
    expect(
        page.get_by_test_id("vat-breakdown").get_by_role("cell", name="反向征收")
    ).to_be_visible()
    expect(page.get_by_test_id("tax-note")).to_have_text(
        "反向征收：增值税由接受方申报缴纳（欧盟第 2006/112/EC 号指令第 196 条）"
    )
    expect(page.get_by_test_id("buyer-tax-id")).to_have_text("增值税号：DE136695976")
    assert_accessible(page)
    with page.expect_download() as xml_download:
        page.get_by_role("link", name="下载电子发票（XML）").click()
    xml = xml_download.value.path().read_bytes()
    assert einvoice_problems(xml) == []
    # The e-invoice's notes are in the reader's language.
    assert "反向征收：增值税由接受方申报缴纳".encode() in xml
