"""The VAT treatment on every document (page, PDF, CSV, email, admin) and the Factur-X
files: the PDF/A-3 with its XML embedded, and the XML's own download."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from accounts.models import Membership, User
from accounts.outbox import render_email
from invoices import documents
from invoices.documents import invoice_csv, invoice_document_render, invoices_csv
from invoices.einvoice_check import einvoice_problems
from invoices.models import Invoice
from tests.conftest import admin_login, grant
from tests.factories import MembershipFactory, UserFactory
from tests.invoices.einvoice_builders import (
    SELLER,
    credit_note,
    outside_eu,
    reverse_charge,
    two_rates,
)

pytestmark = pytest.mark.django_db

REVERSE_CHARGE_EN = "Reverse charge: VAT to be accounted for by the recipient"
REVERSE_CHARGE_ZH = "反向征收"


@pytest.fixture(autouse=True)
def _seller(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    for name, value in SELLER.items():
        setattr(settings, name, value)


def _client_of(client: Client, invoice: Invoice) -> Client:
    user: User = UserFactory()
    MembershipFactory(user=user, account=invoice.account, role=Membership.Role.OWNER)
    client.force_login(user)
    return client


def _pdf_text(content: bytes) -> str:
    reader = PdfReader(io.BytesIO(content))
    return re.sub(r"\s+", " ", " ".join(page.extract_text() for page in reader.pages))


@pytest.mark.parametrize(
    ("language", "note"), [("en", REVERSE_CHARGE_EN), ("zh-hans", REVERSE_CHARGE_ZH)]
)
def test_the_pdf_is_a_factur_x_pdf_a_3_with_its_xml_embedded(language: str, note: str) -> None:
    invoice = reverse_charge()
    document = invoice_document_render(invoice=invoice, language=language)
    with document.file.open("rb") as handle:
        content = handle.read()
    with document.xml.open("rb") as handle:
        xml = handle.read()
    reader = PdfReader(io.BytesIO(content))

    assert list(reader.attachments) == ["factur-x.xml"]
    assert reader.attachments["factur-x.xml"] == [xml]
    assert einvoice_problems(xml) == []
    root = reader.trailer["/Root"]
    [attached] = root["/AF"]
    assert attached.get_object()["/AFRelationship"] == "/Data"
    assert root["/OutputIntents"][0].get_object()["/S"] == "/GTS_PDFA1"

    xmp = reader.xmp_metadata
    assert xmp is not None
    metadata = xmp.stream.get_data().decode("utf-8")
    assert "<pdfaid:part>3</pdfaid:part>" in metadata
    assert "<pdfaid:conformance>B</pdfaid:conformance>" in metadata
    assert "<fx:ConformanceLevel>EN 16931</fx:ConformanceLevel>" in metadata
    assert "<fx:DocumentFileName>factur-x.xml</fx:DocumentFileName>" in metadata
    # PDF/A: the information dictionary says what the XMP says.
    assert f"<pdf:Producer>{reader.metadata['/Producer']}</pdf:Producer>" in metadata
    assert "/Keywords" not in reader.metadata

    # Every font is embedded (the CJK font included).
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font

    text = _pdf_text(content)
    assert "FR40303265045" in text and "DE136695976" in text
    assert note in text
    assert "SAS au capital" in text


def test_the_pdf_shows_the_vat_breakdown_and_the_totals_without_and_with_vat() -> None:
    invoice = two_rates()
    document = invoice_document_render(invoice=invoice, language="en")
    with document.file.open("rb") as handle:
        text = _pdf_text(handle.read())
    assert "VAT breakdown" in text
    assert "Standard rate 20%" in text and "Standard rate 5.5%" in text
    # 99.99 at 20% and 35.45 at 5.5%: 20.00 and 1.95 of VAT.
    assert "€20.00" in text and "€1.95" in text
    assert "Total without VAT €135.44" in text and "Total with VAT €157.39" in text


def test_the_chinese_buyer_s_code_and_invoice_title_are_on_the_pdf() -> None:
    invoice = outside_eu()
    document = invoice_document_render(invoice=invoice, language="zh-hans")
    with document.file.open("rb") as handle:
        text = _pdf_text(handle.read())
    assert "统一社会信用代码：91310000MA1FL4XQ2K" in text
    assert "发票抬头：上海云帆科技有限公司" in text


def test_the_xml_downloads_next_to_the_pdf_from_storage(client: Client, monkeypatch) -> None:
    invoice = reverse_charge()
    client = _client_of(client, invoice)
    renders = []
    real = documents.render_invoice_pdf
    monkeypatch.setattr(
        documents, "render_invoice_pdf", lambda *args: renders.append(args) or real(*args)
    )
    response = client.get(reverse("invoices:xml", args=[invoice.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Cache-Control"] == "private, no-cache"
    assert f'filename="invoice-{invoice.number}.xml"' in response["Content-Disposition"]
    xml = b"".join(response.streaming_content)
    assert einvoice_problems(xml) == []
    assert len(renders) == 1  # rendered once, with the PDF

    again = client.get(reverse("invoices:xml", args=[invoice.pk]))
    assert b"".join(again.streaming_content) == xml
    pdf = client.get(reverse("invoices:pdf", args=[invoice.pk]))
    assert PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).attachments["factur-x.xml"] == [
        xml
    ]
    assert len(renders) == 1  # both served from storage


def test_another_account_s_xml_is_a_404(client: Client, stranger: User) -> None:
    invoice = reverse_charge()
    client.force_login(stranger)
    assert client.get(reverse("invoices:xml", args=[invoice.pk])).status_code == 404


def test_an_xml_whose_file_is_gone_is_rendered_again(client: Client) -> None:
    invoice = reverse_charge()
    client = _client_of(client, invoice)
    document = invoice_document_render(invoice=invoice, language="en")
    default_storage.delete(document.xml.name)
    response = client.get(reverse("invoices:xml", args=[invoice.pk]))
    assert response.status_code == 200
    assert einvoice_problems(b"".join(response.streaming_content)) == []


@pytest.mark.parametrize(
    ("language", "texts"),
    [
        ("en", ["VAT breakdown", "Reverse charge", REVERSE_CHARGE_EN, "VAT number: DE136695976"]),
        ("zh-hans", ["增值税明细", "反向征收", REVERSE_CHARGE_ZH, "增值税号：DE136695976"]),
    ],
)
def test_the_invoice_page_shows_the_treatment(
    client: Client, language: str, texts: list[str]
) -> None:
    invoice = reverse_charge()
    client = _client_of(client, invoice)
    body = client.get(
        reverse("invoices:detail", args=[invoice.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode()
    for text in texts:
        assert text in body
    assert "FR40303265045" in body
    assert reverse("invoices:xml", args=[invoice.pk]) in body


def test_a_credit_note_says_which_invoice_it_corrects(client: Client) -> None:
    credit = credit_note()
    original = credit.refers_to
    client = _client_of(client, credit)
    body = client.get(reverse("invoices:detail", args=[credit.pk])).content.decode()
    assert f"Credit note for invoice {original.number} of 20 Nov 2026" in body
    body = client.get(
        reverse("invoices:detail", args=[credit.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    ).content.decode()
    assert f"发票 {original.number}（2026年11月20日）的贷项通知单" in body


def test_the_csv_has_each_line_s_vat_and_the_list_the_totals_without_vat() -> None:
    invoice = two_rates()
    rows = list(csv.reader(io.StringIO("".join(invoice_csv(invoice)).lstrip("\ufeff"))))
    assert rows[0][-2:] == ["VAT category", "VAT rate (%)"]
    assert [row[-2:] for row in rows[1:]] == [["S", "20"], ["S", "5.5"]]
    listed = list(csv.reader(io.StringIO("".join(invoices_csv([invoice])).lstrip("\ufeff"))))
    assert listed[0][-3:] == ["Total without VAT", "VAT", "Buyer tax ID"]
    assert listed[1][-3:] == ["135.44", "21.95", "FR58399360817"]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_the_invoice_email_shows_the_breakdown_and_the_note(language: str) -> None:
    invoice = reverse_charge()
    email = render_email(
        "invoices/email/invoice_issued",
        {"invoice": invoice, "account": invoice.account, "url": "https://portal.example/"},
        language=language,
    )
    note = REVERSE_CHARGE_EN if language == "en" else REVERSE_CHARGE_ZH
    for part in (email.body, email.html):
        assert note in part
        assert "DE136695976" in part
        assert "250.00" in part
    if language == "en":
        assert "VAT (Reverse charge 0%): €0.00" in email.body
        assert "Total with VAT: €250.00" in email.body


def test_the_admin_shows_the_breakdown_read_only(client: Client, rep: User) -> None:
    grant(rep, "view_invoice")
    admin_login(client, rep)
    invoice = two_rates()
    body = client.get(reverse("admin:invoices_invoice_change", args=[invoice.pk])).content.decode()
    assert "VAT breakdown" in body
    assert "20%" in body and "5.5%" in body
    assert 'name="tax_note"' not in body  # read-only
