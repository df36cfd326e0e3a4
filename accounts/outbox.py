"""The email outbox shared by every notification of the portal.

`email_queue` writes a message in the caller's transaction and sends it after the commit;
`email_send` (run by a worker) sends it once, producing its attachments through the provider
each app registers for its kind of attachment (the invoices app registers invoice PDFs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from .models import Account, OutboundEmail

logger = logging.getLogger(__name__)

# kind -> function(id, language) -> (filename, content, mimetype)
AttachmentProvider = Callable[[int, str], tuple[str, bytes, str]]
_providers: dict[str, AttachmentProvider] = {}


class AttachmentNotReady(Exception):
    """An attachment cannot be produced yet; sending is retried later."""


def register_attachment_provider(kind: str, provider: AttachmentProvider) -> None:
    _providers[kind] = provider


def email_queue(
    *,
    key: str,
    to: Sequence[str],
    subject: str,
    body: str,
    account: Account | None = None,
    attachments: Sequence[dict[str, Any]] = (),
) -> OutboundEmail | None:
    """Queue an email in the current transaction and send it once that commits.

    Returns None (and queues nothing) when there is no recipient or `key` was queued before.
    """
    recipients = sorted({address for address in to if address})
    if not recipients:
        return None
    email, created = OutboundEmail.objects.get_or_create(
        key=key,
        defaults={
            "account": account,
            "to": recipients,
            "subject": subject,
            "body": body,
            "attachments": list(attachments),
        },
    )
    if not created:
        return None
    from .tasks import send_email_task

    send_email_task.delay(email.pk)
    return email


def email_send(email_id: int) -> bool:
    """Send the queued email `email_id`; True when sent now, False if it was sent before.

    The row is locked while sending, so two workers never send the same email. Raises
    AttachmentNotReady or the mail backend's error for the caller to retry.
    """
    failure: Exception | None = None
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update().get(pk=email_id)
        if email.state == OutboundEmail.State.SENT:
            return False
        email.attempts += 1
        try:
            _message(email).send()
        except Exception as error:
            failure = error
            email.last_error = f"{type(error).__name__}: {error}"[:2000]
            email.save(update_fields=["attempts", "last_error"])
        else:
            email.state = OutboundEmail.State.SENT
            email.sent_at = timezone.now()
            email.last_error = ""
            email.save(update_fields=["state", "sent_at", "attempts", "last_error"])
    if failure is not None:
        raise failure
    logger.info("Sent email %s (%s) to %d recipient(s).", email.pk, email.key, len(email.to))
    return True


def _message(email: OutboundEmail) -> EmailMessage:
    message = EmailMessage(
        subject=email.subject,
        body=email.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email.to,
    )
    for spec in email.attachments:
        provider = _providers[spec["kind"]]
        filename, content, mimetype = provider(spec["id"], spec.get("language", "en"))
        message.attach(filename, content, mimetype)
    return message


def email_give_up(email_id: int, error: str) -> None:
    OutboundEmail.objects.filter(pk=email_id, state=OutboundEmail.State.QUEUED).update(
        state=OutboundEmail.State.FAILED, last_error=error[:2000]
    )
