"""The email outbox shared by every notification of the portal.

`render_email` renders a notice from its templates in the recipient's language, as plain text
and as HTML (sent together as multipart/alternative); `email_queue` writes it in the caller's
transaction and sends it after the commit; `email_send` (run by a worker) sends it once,
producing its attachments through the provider each app registers for its kind of attachment
(the invoices app registers invoice PDFs, the payments app receipt PDFs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import Account, OutboundEmail
from .retries import retry_delay

logger = logging.getLogger(__name__)

# kind -> function(id, language) -> (filename, content, mimetype)
AttachmentProvider = Callable[[int, str], tuple[str, bytes, str]]
_providers: dict[str, AttachmentProvider] = {}


class AttachmentNotReady(Exception):
    """An attachment cannot be produced yet; sending is retried later."""


def register_attachment_provider(kind: str, provider: AttachmentProvider) -> None:
    _providers[kind] = provider


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    html: str


def render_email(template: str, context: Mapping[str, Any], *, language: str) -> RenderedEmail:
    """A notice rendered in `language`: the subject from `<template>_subject.txt` (on one
    line), the plain text from `<template>_body.txt` and the same message as HTML from
    `<template>_body.html` (which extends the shared `accounts/email/base.html`)."""
    with translation.override(language):
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        # Rendered with autoescape off, the text is plain text, never markup: a plain str
        # (not the SafeString the renderer returns), so nothing downstream takes it as HTML.
        body = "".join([render_to_string(f"{template}_body.txt", context)])
        # Autoescaped: whatever a customer typed (a company name) stays text.
        html = render_to_string(f"{template}_body.html", {**context, "subject": subject})
    return RenderedEmail(subject=subject, body=body, html=html)


def email_queue(
    *,
    key: str,
    to: Sequence[str],
    email: RenderedEmail,
    account: Account | None = None,
    attachments: Sequence[dict[str, Any]] = (),
) -> OutboundEmail | None:
    """Queue an email in the current transaction and send it once that commits.

    Returns None (and queues nothing) when there is no recipient or `key` was queued before.
    """
    recipients = sorted({address for address in to if address})
    if not recipients:
        return None
    queued, created = OutboundEmail.objects.get_or_create(
        key=key,
        defaults={
            "account": account,
            "to": recipients,
            "subject": email.subject,
            "body": email.body,
            "html_body": email.html,
            "attachments": list(attachments),
        },
    )
    if not created:
        return None
    from .tasks import email_send_task

    email_send_task.delay(queued.pk)
    return queued


@dataclass(frozen=True)
class QueuedEmail:
    """An email to queue with others (`emails_queue`); the fields of `email_queue`."""

    key: str
    to: Sequence[str]
    email: RenderedEmail
    account: Account | None = None
    attachments: Sequence[dict[str, Any]] = ()


def emails_queue(emails: Sequence[QueuedEmail]) -> list[OutboundEmail]:
    """`email_queue` for many emails at once: one INSERT in the current transaction, each
    sent once that commits. The keys must be new (the emails of something created in this
    transaction: a key queued before makes the INSERT fail, and so the transaction); those
    without a recipient are left out, as `email_queue` leaves them."""
    from .tasks import email_send_task, emails_send_task

    rows = []
    for each in emails:
        recipients = sorted({address for address in each.to if address})
        if recipients:
            rows.append(
                OutboundEmail(
                    key=each.key,
                    account=each.account,
                    to=recipients,
                    subject=each.email.subject,
                    body=each.email.body,
                    html_body=each.email.html,
                    attachments=list(each.attachments),
                )
            )
    queued = OutboundEmail.objects.bulk_create(rows) if rows else []
    if len(queued) == 1:
        email_send_task.delay(queued[0].pk)
    elif queued:
        # One message for all, which the emails worker fans out (each email its own task).
        emails_send_task.delay([row.pk for row in queued])
    return queued


def email_backoff(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed attempt an email is tried again: 30 s, 1 min,
    2 min, ... up to TASK_RETRY_MAX_DELAY (the send task's retries and the sweep agree on it)."""
    return timedelta(seconds=retry_delay(max(attempts - 1, 0), first=30))


def email_send(*, email_id: int) -> bool:
    """Send the queued email `email_id`; True when sent now, False if it was sent before or
    given up (failed).

    The row is locked while sending, so two workers never send the same email. A failed
    attempt is counted and the next one due after `email_backoff`; after EMAIL_MAX_RETRIES
    retries the email is given up (failed). Raises AttachmentNotReady or the mail backend's
    error for the caller to retry (after `email_backoff` of `email_attempts`).
    """
    failure: Exception | None = None
    with transaction.atomic():
        email = OutboundEmail.objects.select_for_update().get(pk=email_id)
        if email.state != OutboundEmail.State.QUEUED:
            return False
        email.attempts += 1
        try:
            _message(email).send()
        except Exception as error:
            failure = error
            email.last_error = f"{type(error).__name__}: {error}"[:2000]
            email.next_attempt_at = timezone.now() + email_backoff(email.attempts)
            fields = ["attempts", "last_error", "next_attempt_at"]
            if email.attempts > settings.EMAIL_MAX_RETRIES:
                email.state = OutboundEmail.State.FAILED
                fields.append("state")
                logger.error("Gave up sending email %s: %s", email.pk, email.last_error)
            email.save(update_fields=fields)
        else:
            email.state = OutboundEmail.State.SENT
            email.sent_at = timezone.now()
            email.last_error = ""
            email.save(update_fields=["state", "sent_at", "attempts", "last_error"])
    if failure is not None:
        if email.state == OutboundEmail.State.FAILED:
            return False
        raise failure
    logger.info("Sent email %s (%s) to %d recipient(s).", email.pk, email.key, len(email.to))
    return True


def email_attempts(*, email_id: int) -> int:
    """How many times the email `email_id` has been tried (1 if it is gone)."""
    attempts = OutboundEmail.objects.filter(pk=email_id).values_list("attempts", flat=True)
    return max(attempts.first() or 1, 1)


def _message(email: OutboundEmail) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=email.to,
    )
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    for spec in email.attachments:
        provider = _providers[spec["kind"]]
        filename, content, mimetype = provider(spec["id"], spec.get("language", "en"))
        message.attach(filename, content, mimetype)
    return message


def email_give_up(*, email_id: int, error: str) -> None:
    """After the last retry: the email is marked failed, with why."""
    OutboundEmail.objects.filter(pk=email_id, state=OutboundEmail.State.QUEUED).update(
        state=OutboundEmail.State.FAILED, last_error=error[:2000]
    )


# How long past its due time an email may wait for its own task before the sweep sends it.
SWEEP_GRACE = timedelta(minutes=5)


def outbox_sweep(*, now: datetime) -> list[int]:
    """The queued emails due more than SWEEP_GRACE ago and still unsent, whatever their
    attempts: their task was lost (Redis down when it was sent, or emptied while it waited
    for its retry), to be sent now. Sending twice is harmless (`email_send` sends once)."""
    return list(
        OutboundEmail.objects.filter(
            state=OutboundEmail.State.QUEUED, next_attempt_at__lte=now - SWEEP_GRACE
        )
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)[:500]
    )
