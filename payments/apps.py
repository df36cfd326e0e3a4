from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from accounts.outbox import register_attachment_provider
        from invoices import hooks

        from . import checks, sections
        from .receipts import receipt_pdf_attachment

        checks.register()
        hooks.on_billing_summary(sections.billing_summary_section)
        hooks.on_statement_payments(sections.statement_payment_refs)
        register_attachment_provider("payments.receipt_pdf", receipt_pdf_attachment)
