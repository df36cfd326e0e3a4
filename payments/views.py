from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from accounts.current import account_required


@account_required
def payment_method_list(request: HttpRequest) -> HttpResponse:
    """Account > Billing > Payment Methods. Cards on file arrive with the payment methods."""
    return render(
        request,
        "portal/coming_soon.html",
        {"title": _("Payment Methods"), "section": "payment_methods"},
    )


@account_required
def one_time_payment(request: HttpRequest) -> HttpResponse:
    """Account > Payments. One-time payments arrive with their own feature."""
    return render(
        request,
        "portal/coming_soon.html",
        {"title": _("Payments"), "section": "payments"},
    )
