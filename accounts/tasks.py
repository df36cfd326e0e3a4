from __future__ import annotations

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from .models import OutboundEmail
from .outbox import email_give_up, email_send

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    name="accounts.send_email",
    max_retries=settings.EMAIL_MAX_RETRIES,
    acks_late=True,
)
def send_email_task(self: Task, email_id: int) -> bool:
    """Send one queued email; on failure retry with a growing delay, then give up."""
    try:
        return email_send(email_id)
    except OutboundEmail.DoesNotExist:
        return False
    except Exception as error:
        if self.request.retries >= (self.max_retries or 0):
            email_give_up(email_id, f"{type(error).__name__}: {error}")
            logger.error("Gave up sending email %s: %s", email_id, error)
            return False
        countdown = min(30 * 2**self.request.retries, 60 * 60)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(name="accounts.outbox_sweep")
def outbox_sweep_task() -> int:
    """Send the emails never attempted a while after they were written (a lost enqueue).

    An email that was attempted is left to its own task's retries and their back-off.
    """
    stale = timezone.now() - timedelta(minutes=10)
    ids = list(
        OutboundEmail.objects.filter(
            state=OutboundEmail.State.QUEUED, attempts=0, created_at__lt=stale
        ).values_list("pk", flat=True)[:500]
    )
    for email_id in ids:
        send_email_task.delay(email_id)
    return len(ids)
