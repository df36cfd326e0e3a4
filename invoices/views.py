from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.current import AccountRequest, account_required

from .documents import (
    invoice_csv,
    invoice_document_render,
    invoices_csv,
    pdf_filename,
    stored_document,
)
from .einvoice import xml_filename
from .forms import InvoiceFilterForm, StatementForm
from .hooks import billing_summary_sections, pay_invoices_url
from .models import Invoice, InvoiceDocument, StatementDocument
from .money import round_money
from .presenters import present_rows
from .preview import next_invoice_preview
from .selectors import (
    billing_summary,
    invoice_item_row,
    invoice_item_rows,
    invoice_related,
    invoices_for_list,
)
from .spend import spend_charts
from .statement_documents import (
    statement_csv,
    statement_document_find,
    statement_document_request,
    statement_filename,
)
from .statements import (
    Statement,
    account_statement,
    present_statement,
    statement_currencies,
)
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


# The account statement --------------------------------------------------------------------


def _statement_form(request: AccountRequest, data: QueryDict) -> StatementForm:
    currencies = statement_currencies(request.account)
    if not {"start", "end", "currency"} & set(data):
        today = timezone.localdate()
        start = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        start = (start - timedelta(days=1)).replace(day=1)
        data = QueryDict(mutable=True)
        data.update(_params(start, today, currencies[0]))
    return StatementForm(data, currencies=currencies)


def _statement(request: AccountRequest, form: StatementForm) -> Statement | None:
    if not form.is_valid():
        return None
    statement = account_statement(
        account=request.account,
        currency=form.cleaned_data["currency"],
        start=form.cleaned_data["start"],
        end=form.cleaned_data["end"],
    )
    invoice_url = reverse("invoices:detail", args=[0]).removesuffix("0/")
    return present_statement(statement, invoice_url=invoice_url)


def _params(start: date, end: date, currency: str) -> dict[str, str]:
    return {"start": start.isoformat(), "end": end.isoformat(), "currency": currency}


def _statement_query(statement: Statement) -> str:
    return urlencode(_params(statement.start, statement.end, statement.currency))


@require_GET
@account_required
def statement_view(request: AccountRequest) -> HttpResponse:
    """Account > Billing > Statement: a period's lines with the running balance, the closing
    balance, and the aging of what is open at the end; a bad period explains itself."""
    form = _statement_form(request, request.GET)
    return _statement_page(request, form, _statement(request, form))


def _statement_page(
    request: AccountRequest, form: StatementForm, statement: Statement | None
) -> HttpResponse:
    document = statement_document_find(statement, request.LANGUAGE_CODE) if statement else None
    return render(
        request,
        "invoices/statement.html",
        {
            "section": "statement",
            "form": form,
            "statement": statement,
            "document": document,
            "query": _statement_query(statement) if statement else "",
            "params": _params(statement.start, statement.end, statement.currency)
            if statement
            else {},
        },
        status=200 if statement or not form.is_bound else 400,
    )


@require_GET
@account_required
def statement_csv_view(request: AccountRequest) -> HttpResponse | StreamingHttpResponse:
    """The statement as CSV, in the reader's language; a bad period shows the page."""
    form = _statement_form(request, request.GET)
    statement = _statement(request, form)
    if statement is None:
        return _statement_page(request, form, None)
    filename = f"statement-{statement.currency}-{statement.start}-{statement.end}.csv"
    return _csv_response(statement_csv(statement), filename)


@require_POST
@account_required
def statement_pdf_request(request: AccountRequest) -> HttpResponse:
    """Ask a worker for the statement's PDF in the reader's language, then back to the
    statement, which says it is being prepared and offers it once ready."""
    form = _statement_form(request, request.POST)
    statement = _statement(request, form)
    if statement is None:
        return _statement_page(request, form, None)
    document = statement_document_request(
        statement=statement, language=request.LANGUAGE_CODE, by=request.user
    )
    if request.headers.get("HX-Request"):
        return _statement_pdf_panel(request, document)
    url = reverse("invoices:statement") + "?" + _statement_query(statement)
    return redirect(url + "#statement-pdf")


def _get_statement_document(request: AccountRequest, pk: int) -> StatementDocument:
    return get_object_or_404(StatementDocument, pk=pk, account=request.account)


def _statement_pdf_panel(request: AccountRequest, document: StatementDocument) -> HttpResponse:
    params = _params(document.period_start, document.period_end, document.currency)
    return render(
        request,
        "invoices/partials/statement_pdf.html",
        {"document": document, "query": urlencode(params), "params": params},
    )


@require_GET
@account_required
def statement_pdf_status(request: AccountRequest, pk: int) -> HttpResponse:
    """The PDF panel alone: what htmx asks for while the worker renders."""
    return _statement_pdf_panel(request, _get_statement_document(request, pk))


@require_GET
@account_required
def statement_pdf(request: AccountRequest, pk: int) -> FileResponse:
    """The stored PDF of a statement; one still being prepared (or another account's) is a
    404."""
    document = _get_statement_document(request, pk)
    if document.state != StatementDocument.State.READY or not document.file:
        raise Http404
    try:
        handle = document.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(
        handle,
        content_type="application/pdf",
        as_attachment=False,
        filename=statement_filename(document),
    )
    response["Cache-Control"] = "private, no-cache"
    return response


# The next invoice ---------------------------------------------------------------------------


@require_GET
@account_required
def next_invoice(request: AccountRequest) -> HttpResponse:
    """An estimate of the next billing day's invoices, as the billing run would issue them."""
    preview = next_invoice_preview(account=request.account, today=timezone.localdate())
    summary = billing_summary(request.account, timezone.localdate())
    current = next((line for line in summary.currencies if line.currency == preview.currency), None)
    balance = current.balance if current else Decimal(0)
    return render(
        request,
        "invoices/next_invoice.html",
        {
            "section": "invoices",
            "preview": preview,
            "current_balance": balance,
            "estimated_next_balance": round_money(balance + preview.total, preview.currency),
        },
    )
