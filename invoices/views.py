from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.current import AccountRequest, account_required

from .forms import InvoiceFilterForm
from .models import Invoice
from .selectors import (
    billing_summary,
    invoice_item_row,
    invoice_item_rows,
    invoice_related,
    invoices_for_list,
)


def _get_invoice(request: AccountRequest, pk: int) -> Invoice:
    """The invoice `pk` of the account in use; any other account's is a 404."""
    return get_object_or_404(Invoice, pk=pk, account=request.account)


@require_GET
@account_required
def invoice_list(request: AccountRequest) -> HttpResponse:
    """Account > Billing > Invoices: the list with its filters, and the billing summary."""
    form = InvoiceFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
    invoices = invoices_for_list(
        request.account,
        types=filters.get("type"),
        date_from=filters.get("date_from"),
        date_to=filters.get("date_to"),
    )
    page = Paginator(invoices, settings.INVOICES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "invoices/invoice_list.html",
        {
            "section": "invoices",
            "form": form,
            "page": page,
            "query": query.urlencode(),
            "summary": billing_summary(request.account, timezone.localdate()),
        },
    )


@require_GET
@account_required
def invoice_detail(request: AccountRequest, pk: int) -> HttpResponse:
    """One invoice: its header, its items (each expands to its details), totals, relations."""
    invoice = _get_invoice(request, pk)
    expanded = request.GET.get("expand", "")
    return render(
        request,
        "invoices/invoice_detail.html",
        {
            "section": "invoices",
            "invoice": invoice,
            "rows": invoice_item_rows(invoice),
            "expanded": int(expanded) if expanded.isdigit() else None,
            "related": invoice_related(invoice),
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
    return render(
        request,
        "invoices/partials/item_rows.html",
        {"invoice": invoice, "row": row, "expanded": item_pk if expand else None},
    )
