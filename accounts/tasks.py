"""The accounts app's tasks: each calls the service of the same name."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from .models import OutboundEmail
from .outbox import email_attempts, email_give_up, email_send, outbox_sweep
from .retries import retry_delay
from .tax_ids import account_recheck_tax_id, tax_ids_unconfirmed

logger = logging.getLogger(__name__)


def _email_send(self: Task[..., Any], email_id: int) -> bool:
    """Send one queued email; on failure retry when the email says it is due again (a
    growing delay), until `email_send` gives it up. The attempts are counted on the row, so
    an email the sweep sends again keeps its back-off and its limit."""
    try:
        return email_send(email_id=email_id)
    except OutboundEmail.DoesNotExist:
        return False
    except Exception as error:
        if self.request.retries >= (self.max_retries or 0):
            email_give_up(email_id=email_id, error=f"{type(error).__name__}: {error}")
            logger.error("Gave up sending email %s: %s", email_id, error)
            return False
        # The attempts counted on the row, not this task's retries: an email the sweep sent
        # again keeps its back-off (the same one `email_send` set as its next attempt).
        raise self.retry(
            exc=error, countdown=retry_delay(email_attempts(email_id=email_id) - 1, first=30)
        ) from error


email_send_task = shared_task(
    bind=True, name="accounts.email_send", max_retries=settings.EMAIL_MAX_RETRIES, acks_late=True
)(_email_send)


@shared_task(name="accounts.emails_send", acks_late=True)
def emails_send_task(email_ids: list[int]) -> int:
    """Hand each of many emails queued together (`emails_queue`: a batch of the billing run)
    to its own send task, retried on its own: the worker that queued them sends one message
    for all. Safe to run again: an email sent already is not sent twice."""
    for email_id in email_ids:
        email_send_task.delay(email_id)
    return len(email_ids)


@shared_task(name="accounts.outbox_sweep")
def outbox_sweep_task() -> int:
    """Send the due emails whose send was lost (see `outbox_sweep`)."""
    ids = outbox_sweep(now=timezone.now())
    for email_id in ids:
        email_send_task.delay(email_id)
    return len(ids)


# The name the send task had until the billing app was split out (CHANGELOG): a message
# queued or scheduled for a retry under it still runs. To be removed in the next release.
shared_task(
    bind=True, name="accounts.send_email", max_retries=settings.EMAIL_MAX_RETRIES, acks_late=True
)(_email_send)


@shared_task(name="accounts.tax_ids_recheck")
def tax_ids_recheck_task() -> int:
    """Ask VIES again about every EU VAT number it could not confirm yet (periodic)."""
    if not settings.VIES_CHECK:
        return 0
    ids = tax_ids_unconfirmed()
    for account_id in ids:
        account_recheck_tax_id(account_id=account_id)
    return len(ids)
