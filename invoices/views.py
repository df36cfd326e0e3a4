from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.current import AccountRequest, account_required

from .documents import (
    invoice_csv,
    invoice_document_render,
    invoices_csv,
    pdf_filename,
    stored_document,
)
from .einvoice import xml_filename
from .forms import InvoiceFilterForm
from .hooks import billing_summary_sections, pay_invoices_url
from .models import Invoice, InvoiceDocument
from .presenters import present_rows
from .selectors import (
    billing_summary,
    invoice_item_row,
    invoice_item_rows,
    invoice_related,
    invoices_for_list,
)
from .spend import spend_charts
from .status import InvoiceStatus, invoice_status
from .vat import vat_breakdown


def _get_invoice(request: AccountRequest, pk: int) -> Invoice:
    """The invoice `pk` of the account in use; any other account's is a 404."""
    return get_object_or_404(Invoice, pk=pk, account=request.account)


def _filtered(request: AccountRequest, today: date) -> tuple[InvoiceFilterForm, QuerySet[Invoice]]:
    """The list's filters as sent, and the invoices they select (the page and its CSV)."""
    data = request.GET.copy()
    data.pop("page", None)
    form = InvoiceFilterForm(data or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    invoices = invoices_for_list(
        request.account,
        types=filters.get("type"),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
        status=filters.get("status") or "",
        number=filters.get("q") or "",
        today=today,
    )
    return form, invoices


@dataclass(frozen=True)
class ListRow:
    invoice: Invoice
    status: InvoiceStatus
    # Whether it can be ticked for "Pay selected": an open charge, with a user who may pay.
    payable: bool


@require_GET
@account_required
def invoice_list(request: AccountRequest) -> HttpResponse:
    """Account > Billing > Invoices: the list with its filters, each invoice's status and
    due date, "Pay selected", and the billing summary."""
    today = timezone.localdate()
    form, invoices = _filtered(request, today)
    page = Paginator(invoices, settings.INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    pay_url = pay_invoices_url(request)
    rows = [
        ListRow(
            invoice=invoice,
            status=invoice_status(invoice, today),
            payable=bool(pay_url) and invoice.is_charge and invoice.state == Invoice.State.OPEN,
        )
        for invoice in page.object_list
    ]
    return render(
        request,
        "invoices/invoice_list.html",
        {
            "section": "invoices",
            "form": form,
            "page": page,
            "rows": rows,
            "pay_url": pay_url if any(row.payable for row in rows) else "",
            "query": query.urlencode(),
            "summary": billing_summary(request.account, today),
            "summary_sections": billing_summary_sections(request),
            "spend_charts": spend_charts(request.account, today=timezone.localdate()),
        },
    )


@require_GET
@account_required
def invoice_detail(request: AccountRequest, pk: int) -> HttpResponse:
    """One invoice: its header, its items (each expands to its details), totals, relations."""
    invoice = _get_invoice(request, pk)
    expand = request.GET.get("expand", "")
    expanded = int(expand) if expand.isdigit() else None
    related = invoice_related(invoice)
    pay_url = pay_invoices_url(request)
    payable = invoice.is_charge and invoice.state == Invoice.State.OPEN
    return render(
        request,
        "invoices/invoice_detail.html",
        {
            "section": "invoices",
            "invoice": invoice,
            "rows": present_rows(invoice, invoice_item_rows(invoice), expanded=expanded),
            "item_url": _item_url(invoice),
            "expanded": expanded,
            "related": related,
            "corrects": next((o for o in related if o.pk == invoice.refers_to_id), None),
            "vat_groups": vat_breakdown(invoice),
            "status": invoice_status(invoice, timezone.localdate()),
            "pay_url": f"{pay_url}?invoice={invoice.pk}" if pay_url and payable else "",
        },
    )


@require_GET
@account_required
def invoice_item(request: AccountRequest, pk: int, item_pk: int) -> HttpResponse:
    """One item's rows, expanded or collapsed: what htmx swaps in when a row is clicked."""
    invoice = _get_invoice(request, pk)
    row = invoice_item_row(invoice, item_pk)
    if row is None:
        raise Http404
    expand = request.GET.get("collapse") is None
    [line] = present_rows(invoice, [row])
    return render(
        request,
        "invoices/partials/item_rows.html",
        {
            "invoice": invoice,
            "row": line,
            "item_url": _item_url(invoice),
            "expanded": item_pk if expand else None,
        },
    )


def _item_url(invoice: Invoice) -> str:
    """The prefix of the items' fragment URLs, reversed once rather than once a row."""
    return reverse("invoices:item", args=[invoice.pk, 0]).removesuffix("0/")


def _stored_file(invoice: Invoice, language: str, field: str) -> Any:
    """An open handle on the invoice's stored PDF or XML (`field`) in `language`: as the
    worker rendered it, or rendered now if it is missing or out of date."""
    document: InvoiceDocument | None = stored_document(invoice, language)
    try:
        handle = getattr(document, field).open("rb") if document else None
    except FileNotFoundError:
        handle = None
    if handle is None:
        document = invoice_document_render(invoice=invoice, language=language)
        handle = getattr(document, field).open("rb")
    return handle


@require_GET
@account_required
def invoice_pdf(request: AccountRequest, pk: int) -> FileResponse:
    """The invoice as a PDF in the reader's language (a Factur-X PDF/A-3 with its e-invoice
    XML embedded)."""
    invoice = _get_invoice(request, pk)
    response = FileResponse(
        _stored_file(invoice, request.LANGUAGE_CODE, "file"),
        content_type="application/pdf",
        as_attachment=False,
        filename=pdf_filename(invoice),
    )
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
@account_required
def invoice_xml(request: AccountRequest, pk: int) -> FileResponse:
    """The invoice's e-invoice on its own: the EN 16931 CII XML that its PDF embeds."""
    invoice = _get_invoice(request, pk)
    response = FileResponse(
        _stored_file(invoice, request.LANGUAGE_CODE, "xml"),
        content_type="application/xml",
        as_attachment=True,
        filename=xml_filename(invoice),
    )
    response["Cache-Control"] = "private, no-cache"
    return response


@require_GET
@account_required
def invoice_csv_view(request: AccountRequest, pk: int) -> StreamingHttpResponse:
    """One invoice's items and detail items as CSV."""
    invoice = _get_invoice(request, pk)
    return _csv_response(invoice_csv(invoice), f"invoice-{invoice.number}.csv")


@require_GET
@account_required
def invoice_list_csv(request: AccountRequest) -> StreamingHttpResponse:
    """The Invoices list, with the filters currently applied, as CSV."""
    _form, invoices = _filtered(request, timezone.localdate())
    return _csv_response(invoices_csv(invoices.iterator(chunk_size=2000)), "invoices.csv")


def _csv_response(lines: Iterator[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        (line.encode("utf-8") for line in lines), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-cache"
    return response
