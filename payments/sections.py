"""The payments app's part of the pages of the apps below it."""

from __future__ import annotations

from django.template.loader import render_to_string

from accounts.current import AccountRequest

from .selectors import monthly_payment_method


def billing_summary_section(request: AccountRequest) -> str:
    """In the Invoices page's billing summary: the monthly payment method and Pay Balance."""
    return render_to_string(
        "payments/partials/billing_summary.html",
        {"method": monthly_payment_method(request.account)},
        request=request,
    )
