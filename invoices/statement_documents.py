"""The account statement as documents: the PDF (rendered by a worker, stored) and the CSV."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import get_template, render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User

from .documents import (
    PDF_STYLESHEET,
    _page_counter_css,
    csv_rows,
    page_size_for_country,
    render_pdf,
)
from .models import StatementDocument
from .money import quantum
from .statements import Statement, account_statement, present_statement

logger = logging.getLogger(__name__)

STATEMENT_TEMPLATE = "invoices/pdf/statement.html"


@cache
def statement_template_version() -> str:
    """A hash of the statement's PDF template and stylesheet."""
    origin = get_template(STATEMENT_TEMPLATE).origin.name  # type: ignore[attr-defined]
    source = Path(origin).read_bytes()
    return hashlib.sha256(source + PDF_STYLESHEET.read_bytes()).hexdigest()[:16]


def statement_digest(statement: Statement, language: str) -> str:
    return statement.digest(language, statement_template_version())


def statement_filename(statement: Statement | StatementDocument) -> str:
    if isinstance(statement, StatementDocument):
        currency, start, end = statement.currency, statement.period_start, statement.period_end
    else:
        currency, start, end = statement.currency, statement.start, statement.end
    return f"statement-{currency}-{start.isoformat()}-{end.isoformat()}.pdf"


def statement_document_find(statement: Statement, language: str) -> StatementDocument | None:
    """The PDF asked for this very statement in `language`, if any (one query)."""
    return StatementDocument.objects.filter(
        account=statement.account, input_hash=statement_digest(statement, language)
    ).first()


@transaction.atomic
def statement_document_request(
    *, statement: Statement, language: str, by: User | None = None
) -> StatementDocument:
    """Ask a worker for the PDF of `statement` in `language`; asking again for the same
    statement (same lines, same language) returns the one already asked for, and a failed
    one is asked for again. The task is sent after the commit."""
    from .tasks import statement_document_render_task

    digest = statement_digest(statement, language)
    document, created = StatementDocument.objects.get_or_create(
        account=statement.account,
        input_hash=digest,
        defaults={
            "currency": statement.currency,
            "period_start": statement.start,
            "period_end": statement.end,
            "language": language,
            "requested_by": by,
        },
    )
    if not created:
        document = StatementDocument.objects.select_for_update().get(pk=document.pk)
        if document.state != StatementDocument.State.FAILED:
            return document
        document.state = StatementDocument.State.PENDING
        document.save(update_fields=["state"])
    statement_document_render_task.delay(document.pk)
    return document


def statement_pdf_html(statement: Statement, language: str) -> str:
    """The HTML that WeasyPrint turns into the statement's PDF, in `language`."""
    account = statement.account
    with translation.override(language):
        present_statement(statement)
        return render_to_string(
            STATEMENT_TEMPLATE,
            {
                "statement": statement,
                "account": account,
                "address_lines": account.address_lines(),
                "page_size": page_size_for_country(account.country.code),
                "stylesheet": PDF_STYLESHEET.read_text(),
                "language": language,
                "page_counter": _page_counter_css(),
                "generated": timezone.localdate(),
            },
        )


def statement_document_render(*, document_id: int) -> StatementDocument:
    """Render and store the PDF the row asks for: the statement of its account, currency
    and period as it stands now, in its language. A row already rendered is left as it is;
    a render that raises marks the row failed (the page offers to try again)."""
    with transaction.atomic():
        document = (
            StatementDocument.objects.select_for_update()
            .select_related("account")
            .get(pk=document_id)
        )
        if (
            document.state == StatementDocument.State.READY
            and document.file.name
            and default_storage.exists(document.file.name)
        ):
            return document
        try:
            with translation.override(document.language):
                statement = account_statement(
                    account=document.account,
                    currency=document.currency,
                    start=document.period_start,
                    end=document.period_end,
                )
            rendered = render_pdf(statement_pdf_html(statement, document.language))
        except Exception:
            logger.exception("Could not render statement document %s.", document.pk)
            document.state = StatementDocument.State.FAILED
            document.save(update_fields=["state"])
            return document
        name = default_storage.save(
            f"statements/{document.account_id}/{document.pk}-{document.language}-"
            f"{document.input_hash[:12]}.pdf",
            ContentFile(rendered.content),
        )
        document.file.name = name
        document.state = StatementDocument.State.READY
        document.pages = rendered.pages
        document.size = len(rendered.content)
        document.rendered_at = timezone.now()
        document.save(update_fields=["file", "state", "pages", "size", "rendered_at"])
    logger.info("Rendered statement document %s: %d page(s).", document.pk, rendered.pages)
    return document


def statement_csv(statement: Statement) -> Iterator[str]:
    """The statement's lines with the running balance, then the closing balance and aging,
    in the active language."""
    q = quantum(statement.currency)
    header = [
        _("Date"),
        _("Reference"),
        _("Description"),
        _("Currency"),
        _("Charges"),
        _("Payments and credits"),
        _("Balance"),
    ]

    def rows() -> Iterator[list[object]]:
        currency = statement.currency
        yield [
            statement.start,
            "",
            _("Opening balance"),
            currency,
            "",
            "",
            _q(statement.opening_balance, q),
        ]
        for entry in statement.entries:
            yield [
                entry.day,
                entry.reference,
                entry.description,
                currency,
                _q(entry.charge, q),
                _q(entry.credit, q),
                _q(entry.balance, q),
            ]
        yield [
            statement.end,
            "",
            _("Closing balance"),
            currency,
            "",
            "",
            _q(statement.closing_balance, q),
        ]
        yield [
            statement.end,
            "",
            _("Unapplied credit"),
            currency,
            "",
            "",
            _q(statement.unapplied_credit, q),
        ]
        for line in statement.aging:
            yield [
                statement.end,
                "",
                _("Aging: %(bucket)s") % {"bucket": line.label},
                currency,
                "",
                "",
                _q(line.amount, q),
            ]

    return csv_rows(header, rows())


def _q(amount: Decimal | None, q: Decimal) -> Decimal | str:
    return "" if amount is None else amount.quantize(q)
