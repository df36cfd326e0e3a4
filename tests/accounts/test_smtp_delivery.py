"""A real SMTP conversation: the invoice email, sent through the outbox as the product sends
it, reaches an SMTP server (aiosmtpd, on a free port) configured by EMAIL_URL, and arrives
whole: headers, the reader's language, the text and HTML parts and the PDF attachment."""

from __future__ import annotations

import io
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone
from pypdf import PdfReader

from accounts.models import Account, OutboundEmail, User
from accounts.outbox import email_send
from portal.settings import _mailer

pytestmark = pytest.mark.django_db


class Inbox:
    """aiosmtpd's handler: keeps every message as the server received it (DATA)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def smtp(settings) -> Inbox:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    # Exactly what EMAIL_URL=smtp://127.0.0.1:PORT configures in production.
    settings.MAILERS = {"default": _mailer(f"smtp://127.0.0.1:{port}")}
    assert settings.MAILERS["default"]["BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    yield inbox
    controller.stop()


def test_the_invoice_email_reaches_a_real_smtp_server_whole_and_in_chinese(
    smtp: Inbox,
    account: Account,
    owner: User,
    issue,
    settings,
    tmp_path,
    django_capture_on_commit_callbacks,
) -> None:
    settings.MEDIA_ROOT = tmp_path
    settings.DEFAULT_FROM_EMAIL = "billing@example.com"
    account.language = "zh-hans"
    account.save(update_fields=["language"])

    # Issuing queues the email in the outbox; after the commit the worker's task renders the
    # PDF and sends the email through accounts.outbox.email_send.
    with django_capture_on_commit_callbacks(execute=True):
        invoice = issue(account, amount="1234.50")

    outbound = OutboundEmail.objects.get(key=f"invoices.invoice.issued:{invoice.pk}")
    assert outbound.state == OutboundEmail.State.SENT, outbound.last_error
    assert len(smtp.received) == 1
    mail_from, recipients, raw = smtp.received[0]
    assert mail_from == "billing@example.com"
    assert recipients == ["owner@example.com"]

    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["From"] == "billing@example.com"
    assert message["To"] == "owner@example.com"
    assert message["Subject"] == f"发票 {invoice.number}（一次性费用）"
    assert message["Message-ID"] and message["Date"]
    assert message.get_content_type() == "multipart/mixed"

    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8"
    body = text.get_content()
    assert body.startswith("上海云帆科技有限公司，您好：")
    assert invoice.number in body and "1,234.50" in body
    page = html.get_content()
    assert 'lang="zh-hans"' in page
    assert "上海云帆科技有限公司，您好：" in page
    assert "<script" not in page

    attachments = list(message.iter_attachments())
    assert [(a.get_content_type(), a.get_filename()) for a in attachments] == [
        ("application/pdf", f"invoice-{invoice.number}.pdf")
    ]
    pdf = attachments[0].get_content()
    assert pdf.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(pdf))
    pdf_text = "".join(page.extract_text() for page in reader.pages)
    assert invoice.number in pdf_text
    assert "1,234.50" in pdf_text


def test_a_server_that_refuses_leaves_the_email_queued_for_its_retry(
    account: Account, owner: User, issue, settings, tmp_path
) -> None:
    """Nothing listens on the port: the send fails with the connection refused, and the
    email stays queued with the error and its next attempt due later."""
    settings.MEDIA_ROOT = tmp_path
    settings.MAILERS = {"default": _mailer(f"smtp://127.0.0.1:{_free_port()}")}
    invoice = issue(account)  # in the test's transaction: nothing is sent yet
    outbound = OutboundEmail.objects.get(key=f"invoices.invoice.issued:{invoice.pk}")

    with pytest.raises(ConnectionRefusedError):
        email_send(email_id=outbound.pk)

    outbound.refresh_from_db()
    assert (outbound.state, outbound.attempts) == (OutboundEmail.State.QUEUED, 1)
    assert outbound.last_error.startswith("ConnectionRefusedError")
    assert outbound.next_attempt_at > timezone.now()
