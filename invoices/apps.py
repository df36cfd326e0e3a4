from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InvoicesConfig(AppConfig):
    name = "invoices"
    verbose_name = _("Invoices")

    def ready(self) -> None:
        from accounts.outbox import register_attachment_provider

        from . import audit  # noqa: F401 (declares the actions it records, for the Activity page)
        from .documents import invoice_pdf_attachment

        register_attachment_provider("invoices.invoice_pdf", invoice_pdf_attachment)
