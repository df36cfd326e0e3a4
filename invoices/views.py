from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.current import account_required


@account_required
def invoice_list(request: HttpRequest) -> HttpResponse:
    """Account > Billing > Invoices. The list and billing summary arrive with the invoices."""
    return render(
        request,
        "portal/coming_soon.html",
        {"title": _("Invoices"), "section": "invoices"},
    )
