"""Invoice documents: the PDF (WeasyPrint), the e-invoice XML and the CSV exports.

A PDF is rendered by a worker when an invoice is issued and stored through Django's storage
API; it is rendered again only when what it shows changes (what is owed, or the template).
The PDF is a Factur-X e-invoice: PDF/A-3 with the invoice's EN 16931 XML (`einvoice.py`)
embedded as factur-x.xml, and the same XML is stored beside it for its own download.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache, partial
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from .einvoice import EINVOICE_VERSION, invoice_cii_xml
from .models import Invoice, InvoiceDocument
from .money import quantum
from .presenters import plain_number, present_rows
from .selectors import invoice_item_rows, invoice_related
from .vat import vat_groups

logger = logging.getLogger(__name__)

PDF_TEMPLATE = "invoices/pdf/invoice.html"
PDF_STYLESHEET = Path(__file__).parent / "static" / "invoices" / "pdf.css"

LARGE_DOCUMENT_PAGES = 20

# Countries that print on US Letter; everyone else uses A4.
LETTER_COUNTRIES = frozenset(
    {"US", "CA", "MX", "PH", "CL", "CO", "VE", "GT", "CR", "PR", "DO", "SV", "PA", "BZ"}
)


@cache
def template_version() -> str:
    """A hash of the PDF template and stylesheet: a change renders every PDF again."""
    source = Path(get_template(PDF_TEMPLATE).origin.name).read_bytes()  # type: ignore[attr-defined]
    return hashlib.sha256(source + PDF_STYLESHEET.read_bytes()).hexdigest()[:16]


def document_hash(invoice: Invoice, language: str) -> str:
    """What the PDF of `invoice` depends on. Items and parties never change once issued."""
    parts = [
        template_version(),
        EINVOICE_VERSION,
        language,
        str(invoice.pk),
        invoice.number,
        str(invoice.balance),
        invoice.state,
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def page_size_for_country(country: str) -> str:
    return "letter" if country in LETTER_COUNTRIES else "A4"


def page_size(invoice: Invoice) -> str:
    return page_size_for_country(invoice.buyer_country)


def _page_counter_css() -> str:
    """ "Page 3 of 9" as CSS generated content, in the active language's word order."""
    label = _("Page %(page)s of %(pages)s") % {"page": "\0page\0", "pages": "\0pages\0"}
    pieces = re.split("\0(page|pages)\0", label)
    return " ".join(
        f"counter({piece})" if index % 2 else '"' + piece.replace('"', '\\"') + '"'
        for index, piece in enumerate(pieces)
        if piece or index % 2
    )


def invoice_pdf_html(invoice: Invoice, language: str) -> str:
    """The HTML that WeasyPrint turns into the invoice's PDF, in `language`."""
    rows = invoice_item_rows(invoice)
    related = invoice_related(invoice)
    with translation.override(language):
        return render_to_string(
            PDF_TEMPLATE,
            {
                "invoice": invoice,
                "rows": present_rows(invoice, rows),
                "has_details": any(row.details for row in rows),
                "related": related,
                "corrects": next((o for o in related if o.pk == invoice.refers_to_id), None),
                "vat_groups": vat_groups((row.item for row in rows), invoice.currency),
                "page_size": page_size(invoice),
                "stylesheet": PDF_STYLESHEET.read_text(),
                "language": language,
                "page_counter": _page_counter_css(),
            },
        )


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int


def render_pdf(html: str, **options: object) -> RenderedPdf:
    """Lay out and write `html` with WeasyPrint (fonts from the system's fontconfig, every
    one embedded); `options` go to `write_pdf` (`pdf_variant="pdf/a-3b"`, say)."""
    from weasyprint import HTML

    document = HTML(string=html, base_url=str(settings.BASE_DIR)).render()
    rendered = RenderedPdf(content=document.write_pdf(**options), pages=len(document.pages))
    # A large layout leaves reference cycles behind; free them now rather than some renders
    # later, so a worker's memory stays bounded by its largest invoice. (A full collection
    # costs tens of milliseconds: not worth it after a short document.)
    if rendered.pages >= LARGE_DOCUMENT_PAGES:
        del document
        gc.collect()
    return rendered


def render_invoice_pdf(invoice: Invoice, language: str, xml: bytes) -> RenderedPdf:
    """The invoice's Factur-X PDF: PDF/A-3B as WeasyPrint writes it, with `xml` embedded
    by the factur-x library as factur-x.xml (relationship "Data") and the XMP metadata that
    declares PDF/A-3B and the Factur-X EN 16931 profile."""
    from facturx import generate_from_binary

    rendered = render_pdf(invoice_pdf_html(invoice, language), pdf_variant="pdf/a-3b")
    with translation.override(language):
        title = _("Invoice %(number)s") % {"number": invoice.number}
        metadata = {
            "author": invoice.seller_name,
            "title": f"{invoice.seller_name}: {title}",
            "subject": title,
        }
    content = generate_from_binary(
        rendered.content,
        xml,
        flavor="factur-x",
        level="en16931",
        # The XML's validity is the tests' to prove (XSD and the EN 16931 rules); a
        # customer's PDF is never refused here.
        check_xsd=False,
        pdf_metadata=metadata,
        lang=language,
    )
    return RenderedPdf(content=_info_as_in_xmp(content), pages=rendered.pages)


def _info_as_in_xmp(content: bytes) -> bytes:
    """PDF/A wants the document information dictionary to say what the XMP metadata says:
    factur-x writes the XMP (producer "pypdf", no keywords) but leaves WeasyPrint's producer
    and an empty keywords entry in the dictionary; make them agree."""
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(content))
    info = {key: value for key, value in (writer.metadata or {}).items() if key != "/Keywords"}
    info["/Producer"] = "pypdf"
    writer.metadata = info
    output = io.BytesIO()
    writer.write(output)
    return output.getvalue()


def _storage_name(invoice: Invoice, language: str, digest: str, extension: str = "pdf") -> str:
    return f"invoices/{invoice.account_id}/{invoice.number}-{language}-{digest[:12]}.{extension}"


def invoice_document_render(*, invoice: Invoice, language: str) -> InvoiceDocument:
    """The up-to-date stored PDF of `invoice` in `language`, rendering it only if needed.

    Two workers asking at once render once: the document row is locked while rendering
    (never the invoice, whose balance payments may be changing meanwhile).
    """
    InvoiceDocument.objects.bulk_create(
        [InvoiceDocument(invoice=invoice, language=language)], ignore_conflicts=True
    )
    with transaction.atomic():
        document = InvoiceDocument.objects.select_for_update().get(
            invoice=invoice, language=language
        )
        invoice = Invoice.objects.get(pk=invoice.pk)
        digest = document_hash(invoice, language)
        if (
            document.input_hash == digest
            and document.file.name
            and document.xml.name
            and default_storage.exists(document.file.name)
            and default_storage.exists(document.xml.name)
        ):
            return document
        previous = [field.name for field in (document.file, document.xml) if field.name]
        xml = invoice_cii_xml(invoice, language)
        rendered = render_invoice_pdf(invoice, language, xml)
        name = default_storage.save(
            _storage_name(invoice, language, digest), ContentFile(rendered.content)
        )
        xml_name = default_storage.save(
            _storage_name(invoice, language, digest, "xml"), ContentFile(xml)
        )
        document.file.name = name
        document.xml.name = xml_name
        document.input_hash = digest
        document.pages = rendered.pages
        document.size = len(rendered.content)
        document.rendered_at = timezone.now()
        document.save(update_fields=["file", "xml", "input_hash", "pages", "size", "rendered_at"])
        for old in previous:
            if old and old not in (name, xml_name):
                transaction.on_commit(partial(default_storage.delete, old))
    logger.info(
        "Rendered %s (%s): %d page(s), %d bytes.",
        invoice.number,
        language,
        rendered.pages,
        len(rendered.content),
    )
    return document


def invoice_documents_render(*, invoice_id: int) -> int:
    """Render and store the PDF (with its e-invoice XML) of an invoice in every language,
    the account's first, so that a download never has to render; a PDF that is still
    current is left as it is. Returns the number of pages."""
    invoice = Invoice.objects.select_related("account").get(pk=invoice_id)
    languages = [invoice.account.language] + [
        code for code, _name in settings.LANGUAGES if code != invoice.account.language
    ]
    pages = 0
    for language in languages:
        pages = invoice_document_render(invoice=invoice, language=language).pages
    return pages


def invoice_documents_missing(*, since: date, limit: int = 1000) -> list[int]:
    """Ids of the invoices issued since `since` that have no stored PDF yet (a render task
    that was lost)."""
    missing = Invoice.objects.filter(issue_date__gte=since).exclude(
        documents__rendered_at__isnull=False
    )
    return list(missing.values_list("pk", flat=True)[:limit])


def stored_document(invoice: Invoice, language: str) -> InvoiceDocument | None:
    """The stored PDF and XML if they are current, without rendering (one query)."""
    document = InvoiceDocument.objects.filter(invoice=invoice, language=language).first()
    if document is None or not document.file or not document.xml:
        return None
    if document.input_hash != document_hash(invoice, language):
        return None
    return document


def pdf_filename(invoice: Invoice) -> str:
    return f"invoice-{invoice.number}.pdf"


# CSV ----------------------------------------------------------------------------------------

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A cell a spreadsheet shows as text, never runs: text starting like a formula is quoted.

    Amounts and dates are ours and written as plain values (a credit's "-45.00" stays a number).
    """
    if value is None:
        return ""
    if isinstance(value, (Decimal, int, date)):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_PREFIXES) or _formula_after_spaces(text):
        return "'" + text
    return text


def _formula_after_spaces(text: str) -> bool:
    """Spreadsheets skip leading spaces (and invisible characters) and some read full-width
    ＝＋－＠ as = + - @: what counts is the first visible character, in its NFKC form."""
    for char in unicodedata.normalize("NFKC", text):
        if char.isspace() or unicodedata.category(char) == "Cf":
            continue
        return char in FORMULA_PREFIXES
    return False


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_rows(header: Iterable[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """CSV lines, UTF-8 with a byte-order mark first so spreadsheets read Chinese right."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow([csv_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([csv_cell(cell) for cell in row])


def invoice_csv(invoice: Invoice) -> Iterator[str]:
    """One invoice: every item, then under it its detail items."""
    header = [
        _("Invoice number"),
        _("Date"),
        _("Type"),
        _("Currency"),
        _("Item"),
        _("Detail of"),
        _("Description"),
        _("Category"),
        _("Resource"),
        _("Period start"),
        _("Period end"),
        _("Quantity"),
        _("Unit price"),
        _("Amount"),
        _("VAT category"),
        _("VAT rate (%)"),
    ]

    def rows() -> Iterator[list[object]]:
        for row in invoice_item_rows(invoice):
            for item in (row.item, *row.details):
                yield [
                    invoice.number,
                    invoice.issue_date,
                    invoice.get_type_display(),
                    invoice.currency,
                    row.item.position,
                    row.item.position if item is not row.item else "",
                    item.description,
                    item.category,
                    item.resource_label,
                    item.period_start,
                    item.period_end,
                    plain_number(item.quantity),
                    plain_number(item.unit_price),
                    item.amount.quantize(quantum(invoice.currency)),
                    item.vat_category,
                    plain_number(item.vat_rate),
                ]

    return csv_rows(header, rows())


def invoices_csv(invoices: Iterable[Invoice]) -> Iterator[str]:
    """The Invoices list as filtered, one line per invoice."""
    header = [
        _("Invoice number"),
        _("Date"),
        _("Type"),
        _("State"),
        _("Due date"),
        _("Currency"),
        _("Total"),
        _("Balance"),
        _("Total without VAT"),
        _("VAT"),
        _("Buyer tax ID"),
    ]
    rows = (
        [
            invoice.number,
            invoice.issue_date,
            invoice.get_type_display(),
            invoice.get_state_display(),
            invoice.due_date,
            invoice.currency,
            invoice.total.quantize(quantum(invoice.currency)),
            invoice.balance.quantize(quantum(invoice.currency)),
            invoice.subtotal.quantize(quantum(invoice.currency)),
            invoice.tax.quantize(quantum(invoice.currency)),
            invoice.buyer_tax_id,
        ]
        for invoice in invoices
    )
    return csv_rows(header, rows)


def invoice_pdf_attachment(invoice_id: int, language: str) -> tuple[str, bytes, str]:
    """The outbox's attachment provider for invoice PDFs (stored, or rendered now)."""
    invoice = Invoice.objects.get(pk=invoice_id)
    document = invoice_document_render(invoice=invoice, language=language)
    with document.file.open("rb") as handle:
        content = handle.read()
    return pdf_filename(invoice), content, "application/pdf"
