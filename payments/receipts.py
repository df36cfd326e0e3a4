"""A payment's receipt as a PDF, in the reader's language (WeasyPrint, like the invoices)."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation

from invoices.documents import PDF_STYLESHEET, page_size_for_country, render_pdf

from .models import Payment, PaymentRefund


def receipt_html(payment: Payment, language: str) -> str:
    allocations = payment.allocations.select_related("allocation__invoice").order_by("pk")
    account = payment.account
    with translation.override(language):
        return render_to_string(
            "payments/pdf/receipt.html",
            {
                "payment": payment,
                "account": account,
                "account_address": "\n".join(account.address_lines()),
                "allocations": allocations,
                "refunds": payment.refunds.filter(state=PaymentRefund.State.SUCCEEDED),
                "seller_name": settings.SELLER_NAME,
                "seller_address": settings.SELLER_ADDRESS,
                "stylesheet": PDF_STYLESHEET.read_text(),
                "page_size": page_size_for_country(str(account.country)),
                "language": language,
            },
        )


def receipt_pdf(payment: Payment, language: str) -> bytes:
    """The receipt of a succeeded payment; small enough to render on request."""
    return render_pdf(receipt_html(payment, language)).content


def receipt_filename(payment: Payment) -> str:
    return f"receipt-{payment.pk}.pdf"


def receipt_pdf_attachment(payment_id: int, language: str) -> tuple[str, bytes, str]:
    """The outbox's attachment provider for receipts: rendered when the email is sent, as
    the invoice's is when it has none stored yet (so it shows the payment as it is then)."""
    payment = Payment.objects.select_related("account").get(pk=payment_id)
    return receipt_filename(payment), receipt_pdf(payment, language), "application/pdf"
