from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from accounts.outbox import register_attachment_provider
        from invoices import hooks

        from . import (
            audit,  # noqa: F401 (declares the actions it records, for the Activity page)
            checks,
            sections,
        )
        from .receipts import receipt_pdf_attachment
        from .tax_evidence import monthly_card_countries

        checks.register()
        hooks.on_billing_summary(sections.billing_summary_section)
        hooks.on_tax_evidence(monthly_card_countries)
        hooks.on_pay_invoices(sections.pay_invoices_url)
        hooks.on_statement_payments(sections.statement_payment_refs)
        register_attachment_provider("payments.receipt_pdf", receipt_pdf_attachment)
