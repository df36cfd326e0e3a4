"""The invoices app's tasks: each calls the service of the same name."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .documents import invoice_documents_missing, invoice_documents_render
from .statement_documents import statement_document_render


@shared_task(name="invoices.invoice_documents_render", acks_late=True)
def invoice_documents_render_task(invoice_id: int) -> int:
    """Render and store an invoice's Factur-X PDF and its e-invoice XML in every language;
    returns the number of pages."""
    return invoice_documents_render(invoice_id=invoice_id)


@shared_task(name="invoices.invoices_documents_render", acks_late=True)
def invoices_documents_render_task(invoice_ids: list[int]) -> int:
    """Hand each of many invoices just issued (a batch of the billing run) to its own render
    task, so that the worker that issued them sends one message for all and the PDF workers
    still share them out. Safe to run again: a render stores the same documents."""
    for invoice_id in invoice_ids:
        invoice_documents_render_task.delay(invoice_id)
    return len(invoice_ids)


@shared_task(name="invoices.invoice_documents_missing")
def invoice_documents_missing_task(days: int = 7) -> int:
    """Queue the PDF of recent invoices that have none yet (a render task that was lost)."""
    ids = invoice_documents_missing(since=timezone.localdate() - timedelta(days=days))
    for invoice_id in ids:
        invoice_documents_render_task.delay(invoice_id)
    return len(ids)


# The names these tasks had until the billing app was split out (CHANGELOG): a message
# queued under one still runs. To be removed in the next release.
@shared_task(name="invoices.render_pdf", acks_late=True)
def _former_render_pdf(invoice_id: int) -> int:
    return invoice_documents_render(invoice_id=invoice_id)


@shared_task(name="invoices.render_missing_documents")
def _former_render_missing_documents(days: int = 7) -> int:
    return int(invoice_documents_missing_task(days))


@shared_task(name="invoices.statement_document_render", acks_late=True)
def statement_document_render_task(document_id: int) -> str:
    """Render and store the PDF of an account statement; returns its state."""
    return str(statement_document_render(document_id=document_id).state)
