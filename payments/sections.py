"""The payments app's part of the pages of the apps below it."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse

from accounts.current import AccountRequest
from invoices.hooks import PaymentRef

from .models import PaymentAllocation
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


def statement_payment_refs(allocation_ids: list[int]) -> dict[int, PaymentRef]:
    """For the account statement: the payment (its receipt number, how it was paid, its
    page) that each of these invoices allocations came from, in one query."""
    links = PaymentAllocation.objects.filter(allocation_id__in=allocation_ids).select_related(
        "payment"
    )
    refs: dict[int, PaymentRef] = {}
    for link in links:
        payment = link.payment
        refs[link.allocation_id] = PaymentRef(
            key=f"payment:{payment.pk}",
            label=f"{payment.receipt_number} · {payment.method_label}",
            url=reverse("payments:detail", args=[payment.pk]),
        )
    return refs
