"""The invoices app's tasks: each calls the service of the same name."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .documents import invoice_documents_missing, invoice_documents_render


@shared_task(name="invoices.invoice_documents_render", acks_late=True)
def invoice_documents_render_task(invoice_id: int) -> int:
    """Render and store an invoice's PDF in every language; returns the number of pages."""
    return invoice_documents_render(invoice_id=invoice_id)


@shared_task(name="invoices.invoice_documents_missing")
def invoice_documents_missing_task(days: int = 7) -> int:
    """Queue the PDF of recent invoices that have none yet (a render task that was lost)."""
    ids = invoice_documents_missing(since=timezone.localdate() - timedelta(days=days))
    for invoice_id in ids:
        invoice_documents_render_task.delay(invoice_id)
    return len(ids)
