from __future__ import annotations

import logging
from datetime import date, timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from accounts.models import Account

from .documents import invoice_document_render
from .models import Invoice
from .services import accounts_due_for_run, recurring_run_account

logger = logging.getLogger(__name__)


@shared_task(name="invoices.recurring_run")
def recurring_run_task(day: str | None = None) -> int:
    """Issue the day's New and Recurring invoices, one account per transaction.

    Safe to run again for the same day: each account's run finds what it already issued.
    Returns the number of invoices issued.
    """
    run_day = date.fromisoformat(day) if day else timezone.localdate()
    issued = 0
    failed = 0
    for account_id in accounts_due_for_run(run_day):
        account = Account.objects.get(pk=account_id)
        try:
            result = recurring_run_account(account=account, day=run_day)
        except Exception:
            # One account's failure must not hold the others back; its charges stay due and
            # the next run issues them.
            failed += 1
            logger.exception("Recurring run for account %s on %s failed.", account_id, run_day)
            continue
        issued += len(result.new) + len(result.recurring)
    if failed:
        logger.error("Recurring run for %s: %d account(s) failed.", run_day, failed)
    logger.info("Recurring run for %s issued %d invoice(s).", run_day, issued)
    return issued


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
