from __future__ import annotations

import csv
import io
import subprocess
from datetime import date
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from accounts.models import Account, User
from invoices.documents import invoice_document_render, stored_document
from invoices.models import Invoice, InvoiceDocument, RateKind, SellerTaxCountry
from invoices.services import ItemSpec, invoice_issue_credit, invoice_issue_one_time

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def overage(account: Account) -> Invoice:
    # The seller (outside the EU) charges China's 6% on telecom services in China.
    SellerTaxCountry.objects.create(country="CN", kind=RateKind.TELECOM)
    return invoice_issue_one_time(
        account=account,
        issue_date=date(2026, 10, 15),
        items=[
            ItemSpec(
                description="中国大陆 CDN 流量",
                category="网络",
                resource_label="cdn.example.cn",
                details=(
                    ItemSpec(description="华东节点流量", quantity=D("5230"), unit_price=D("0.21")),
                    ItemSpec(description="华南节点流量", quantity=D("3120"), unit_price=D("0.21")),
                ),
            ),
            ItemSpec(description="SSL certificate", unit_price=D("149.00")),
        ],
    )


def _text(content: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(content)).pages]


def _content(document: InvoiceDocument) -> bytes:
    with default_storage.open(document.file.name, "rb") as handle:
        return handle.read()


def test_the_pdf_has_the_parties_every_item_and_detail_and_the_totals(
    overage: Invoice,
) -> None:
    document = invoice_document_render(invoice=overage, language="en")
    [text] = _text(_content(document))
    for expected in (
        overage.number,
        "上海云帆科技有限公司",
        "Example Hosting Ltd",
        "中国大陆 CDN 流量",
        "华东节点流量",
        "华南节点流量",
        "SSL certificate",
        "Itemised summary",
        "Itemised detail",
        "$1,902.50",  # (5230 + 3120) × 0.21 + 149
        "$114.15",  # 6% tax
        "$2,016.65",
        "Page 1 of 1",
    ):
        assert expected in text, expected
    assert document.pages == 1


def test_the_chinese_pdf_is_in_chinese_with_an_embedded_cjk_font(
    overage: Invoice, tmp_path
) -> None:
    document = invoice_document_render(invoice=overage, language="zh-hans")
    [text] = _text(_content(document))
    for expected in ("发票编号", "一次性费用", "逐项列记摘要", "余额", "第 1 页，共 1 页"):
        assert expected in text, expected
    path = tmp_path / "zh.pdf"
    path.write_bytes(_content(document))
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True)
    cjk = [line for line in fonts.stdout.splitlines() if "CJK" in line]
    assert cjk, fonts.stdout
    assert all(" yes " in line for line in cjk)  # embedded


def test_a_credit_pdf_names_the_invoice_it_refers_to(overage: Invoice) -> None:
    credit = invoice_issue_credit(original=overage, amount=D("10.00"), reason="SLA")
    [text] = _text(_content(invoice_document_render(invoice=credit, language="en")))
    assert "Refers to" in text and overage.number in text


def test_a_500_item_invoice_runs_over_pages_with_the_header_on_each(account: Account) -> None:
    invoice = invoice_issue_one_time(
        account=account,
        items=[ItemSpec(description=f"Server {n:03d}", unit_price=D("1.00")) for n in range(500)],
    )
    document = invoice_document_render(invoice=invoice, language="en")
    pages = _text(_content(document))
    assert len(pages) >= 5
    assert len(pages) <= 14  # dense: 40+ rows a page
    for number, text in enumerate(pages, 1):
        assert "Description" in text and "Amount" in text, f"no header on page {number}"
        assert f"Page {number} of {len(pages)}" in text
    assert "Server 499" in pages[-1] or "Server 499" in pages[-2]


def test_the_paper_is_letter_in_the_us_and_a4_elsewhere(account: Account, issue) -> None:
    a4 = invoice_document_render(invoice=issue(account), language="en")
    box = PdfReader(io.BytesIO(_content(a4))).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)
    account.country = "US"
    account.save()
    letter = invoice_document_render(invoice=issue(account), language="en")
    box = PdfReader(io.BytesIO(_content(letter))).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)


def test_rendering_twice_renders_once_until_what_it_shows_changes(
    overage: Invoice,
) -> None:
    first = invoice_document_render(invoice=overage, language="en")
    again = invoice_document_render(invoice=overage, language="en")
    assert (again.file.name, again.rendered_at) == (first.file.name, first.rendered_at)

    invoice_issue_credit(original=overage, amount=D("100.00"), reason="x")
    overage.refresh_from_db()
    assert stored_document(overage, "en") is None  # the balance it shows changed
    changed = invoice_document_render(invoice=overage, language="en")
    assert changed.file.name != first.file.name
    assert changed.rendered_at > first.rendered_at
    assert InvoiceDocument.objects.filter(invoice=overage).count() == 1


def test_download_serves_the_stored_pdf_with_its_filename(
    owner_client: Client, overage: Invoice
) -> None:
    stored = invoice_document_render(invoice=overage, language="en")
    response = owner_client.get(reverse("invoices:pdf", args=[overage.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="invoice-{overage.number}.pdf"'
    assert b"".join(response.streaming_content) == _content(stored)
    stored.refresh_from_db()
    assert stored.rendered_at is not None


def test_download_renders_on_demand_when_nothing_is_stored(
    owner_client: Client, overage: Invoice
) -> None:
    response = owner_client.get(
        reverse("invoices:pdf", args=[overage.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans"
    )
    assert response.status_code == 200
    assert "上海云帆科技有限公司" in _text(b"".join(response.streaming_content))[0]
    assert InvoiceDocument.objects.get(invoice=overage).language == "zh-hans"


def test_a_strangers_pdf_and_csv_are_404(client: Client, stranger: User, overage: Invoice) -> None:
    client.force_login(stranger)
    assert client.get(reverse("invoices:pdf", args=[overage.pk])).status_code == 404
    assert client.get(reverse("invoices:csv", args=[overage.pk])).status_code == 404
    body = b"".join(client.get(reverse("invoices:list_csv")).streaming_content).decode()
    assert overage.number not in body


def _csv(response) -> tuple[bytes, list[list[str]]]:
    raw = b"".join(response.streaming_content)
    return raw, list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_the_invoice_csv_has_items_and_details_with_a_bom(
    owner_client: Client, overage: Invoice
) -> None:
    response = owner_client.get(reverse("invoices:csv", args=[overage.pk]))
    assert response["Content-Disposition"] == f'attachment; filename="invoice-{overage.number}.csv"'
    raw, rows = _csv(response)
    assert raw.startswith(b"\xef\xbb\xbf")
    header, *lines = rows
    assert header[0] == "Invoice number"
    descriptions = [line[6] for line in lines]
    assert descriptions == ["中国大陆 CDN 流量", "华东节点流量", "华南节点流量", "SSL certificate"]
    assert lines[1][5] == lines[0][4] == "1"  # a detail names its item
    assert lines[1][11:14] == ["5230", "0.21", "1098.30"]


def test_csv_cells_that_look_like_formulas_are_neutralised(
    owner_client: Client, account: Account
) -> None:
    invoice = invoice_issue_one_time(
        account=account,
        items=[
            ItemSpec(description='=HYPERLINK("http://evil.example","x")', unit_price=D(1)),
            ItemSpec(description="+1-555", unit_price=D(1)),
            ItemSpec(description="@SUM(A1)", unit_price=D(1)),
            ItemSpec(description="-2+3", unit_price=D(1)),
        ],
    )
    _raw, rows = _csv(owner_client.get(reverse("invoices:csv", args=[invoice.pk])))
    assert [line[6] for line in rows[1:]] == [
        '\'=HYPERLINK("http://evil.example","x")',
        "'+1-555",
        "'@SUM(A1)",
        "'-2+3",
    ]


def test_the_list_csv_follows_the_current_filters(
    owner_client: Client, account: Account, issue
) -> None:
    september = issue(account, "10.00", on=date(2026, 9, 15))
    october = issue(account, "20.00", on=date(2026, 10, 15))
    credit = invoice_issue_credit(original=october, amount=D("5.00"), reason="x")
    _raw, rows = _csv(owner_client.get(reverse("invoices:list_csv")))
    assert [line[0] for line in rows[1:]] == [credit.number, october.number, september.number]
    assert rows[1][6] == "-5.00"  # amounts stay numbers
    _raw, rows = _csv(owner_client.get(reverse("invoices:list_csv"), {"type": "credit"}))
    assert [line[0] for line in rows[1:]] == [credit.number]
    page = owner_client.get(reverse("invoices:list"), {"type": "credit"}).content.decode()
    assert f"{reverse('invoices:list_csv')}?type=credit" in page


def test_a_stored_pdf_that_went_missing_is_rendered_again(
    owner_client: Client, overage: Invoice
) -> None:
    stored = invoice_document_render(invoice=overage, language="en")
    default_storage.delete(stored.file.name)
    response = owner_client.get(reverse("invoices:pdf", args=[overage.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")


@pytest.mark.parametrize(
    "description",
    [
        " =1+1",
        '\u00a0=HYPERLINK("http://evil.example","x")',
        "\u3000+1",
        "＝1+1",
        "＋1",
        "－1",
        "＠SUM(A1)",
        " \u00a0 ＝1",
        "\u200b=1",
        "\n=1",
    ],
)
def test_csv_cells_with_a_formula_after_spaces_or_in_full_width_are_neutralised(
    owner_client: Client, account: Account, description: str
) -> None:
    """Spreadsheets skip leading spaces and read full-width ＝＋－＠ as formulas."""
    invoice = invoice_issue_one_time(
        account=account, items=[ItemSpec(description=description, unit_price=D(1))]
    )
    _raw, rows = _csv(owner_client.get(reverse("invoices:csv", args=[invoice.pk])))
    assert rows[1][6] == "'" + description


def test_csv_text_that_only_starts_with_a_space_is_left_as_it_is(
    owner_client: Client, account: Account
) -> None:
    invoice = invoice_issue_one_time(
        account=account, items=[ItemSpec(description=" CDN 流量 ＝ 5 GB", unit_price=D(1))]
    )
    _raw, rows = _csv(owner_client.get(reverse("invoices:csv", args=[invoice.pk])))
    assert rows[1][6] == " CDN 流量 ＝ 5 GB"
