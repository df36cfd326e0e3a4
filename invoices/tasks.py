from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .documents import invoice_document_render
from .models import Invoice

logger = logging.getLogger(__name__)


@shared_task(name="invoices.render_pdf", acks_late=True)
def invoice_pdf_task(invoice_id: int) -> int:
    """Render and store the PDF of an invoice in every language, the account's first, so
    that a download never has to render. Does nothing for a PDF that is still current.

    Returns the number of pages.
    """
    invoice = Invoice.objects.select_related("account").get(pk=invoice_id)
    languages = [invoice.account.language] + [
        code for code, _name in settings.LANGUAGES if code != invoice.account.language
    ]
    pages = 0
    for language in languages:
        pages = invoice_document_render(invoice=invoice, language=language).pages
    return pages


@shared_task(name="invoices.render_missing_documents")
def render_missing_documents_task(days: int = 7) -> int:
    """Queue the PDF of recent invoices that have none yet (a render task that was lost)."""
    since = timezone.localdate() - timedelta(days=days)
    missing = Invoice.objects.filter(issue_date__gte=since).exclude(
        documents__rendered_at__isnull=False
    )
    ids = list(missing.values_list("pk", flat=True)[:1000])
    for invoice_id in ids:
        invoice_pdf_task.delay(invoice_id)
    return len(ids)
