"""The payments app's part of the pages of the apps below it."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from accounts.current import AccountRequest

from .selectors import amounts_owed, monthly_payment_method


def billing_summary_section(request: AccountRequest) -> str:
    """In the Invoices page's billing summary: the monthly payment method, and Pay Balance
    when something is owed."""
    return render_to_string(
        "payments/partials/billing_summary.html",
        {
            "method": monthly_payment_method(request.account),
            "owed": bool(amounts_owed(request.account)),
        },
        request=request,
    )


def pay_invoices_url(request: AccountRequest) -> str:
    """The Payments page, where the invoices chosen on the Invoices pages are paid; "" for a
    user whose role does not let them pay."""
    return reverse("payments:pay") if request.membership.can_pay else ""
