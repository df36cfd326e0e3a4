"""The payments app's tasks: each loads what it is given by primary key and calls the service
of the same name."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import Task, shared_task
from django.conf import settings
from django.utils import timezone

from accounts.retries import retry_delay

from .cards import (
    RetryLater,
    payment_method_give_up_verifying,
    payment_method_verify,
    payment_methods_check_promise,
    payment_methods_expire,
    payment_methods_stuck_verifying,
)
from .core import payments_settle
from .one_time import payment_paypal_sync
from .refunds import payment_refund_unapplied, refunds_settle

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)


def _payment_method_verify(self: Task[..., Any], payment_method_id: int) -> str:
    """Verify a newly added card with the gateway; a gateway that cannot answer is asked
    again later (the same idempotency key, so the card is checked once)."""
    try:
        return payment_method_verify(payment_method_id=payment_method_id).state
    except RetryLater as error:
        if self.request.retries >= (self.max_retries or 0):
            payment_method_give_up_verifying(payment_method_id=payment_method_id)
            return "gave_up"
        raise self.retry(
            exc=error, countdown=retry_delay(self.request.retries, first=60)
        ) from error


payment_method_verify_task = shared_task(
    bind=True,
    name="payments.payment_method_verify",
    max_retries=settings.CARD_VERIFY_MAX_RETRIES,
    acks_late=True,
)(_payment_method_verify)


@shared_task(name="payments.payment_methods_redrive")
def payment_methods_redrive_task() -> int:
    """Verify again the cards whose verification was lost (see
    `payment_methods_stuck_verifying`); returns how many were sent."""
    ids = payment_methods_stuck_verifying(now=timezone.now())
    for payment_method_id in ids:
        payment_method_verify_task.delay(payment_method_id)
    return len(ids)


@shared_task(name="payments.payment_methods_check_promise")
def payment_methods_check_promise_task() -> list[int]:
    """Escalate undecided cards and record missed promises (each once per card)."""
    escalated, breached = payment_methods_check_promise(now=timezone.now())
    return [escalated, breached]


@shared_task(name="payments.payment_methods_expire")
def payment_methods_expire_task() -> list[int]:
    """Mark expired cards and warn the contacts of cards about to expire."""
    expired, warned = payment_methods_expire(today=timezone.localdate())
    return [expired, warned]


@shared_task(name="payments.payments_settle", acks_late=True)
def payments_settle_task() -> list[int]:
    """Settle payments and refunds without a sure answer by asking the gateways."""
    now = timezone.now()
    return [payments_settle(now=now), refunds_settle(now=now)]


@shared_task(name="payments.payment_refund_unapplied", acks_late=True)
def payment_refund_unapplied_task(payment_id: int) -> str:
    """Give back what a payment could not apply (the balance was paid meanwhile)."""
    refund = payment_refund_unapplied(payment_id=payment_id)
    return refund.state if refund else "nothing"


@shared_task(name="payments.payment_paypal_sync", acks_late=True)
def payment_paypal_sync_task(payment_id: int) -> str:
    """Act on a PayPal webhook: capture an approved order, record a capture's outcome."""
    return payment_paypal_sync(payment_id=payment_id).state


def forwarding_to(task: Any) -> Callable[..., Any]:
    """A task body that runs `task` (a task registered under a former name runs the new one)."""

    def forward(*args: Any, **kwargs: Any) -> Any:
        return task(*args, **kwargs)

    forward.__name__ = f"former_{task.name.rpartition('.')[2]}"
    return forward


# The names these tasks had until the billing app was split out (CHANGELOG): a message
# queued or scheduled for a retry under one still runs. To be removed in the next release.
shared_task(
    bind=True,
    name="payments.verify_payment_method",
    max_retries=settings.CARD_VERIFY_MAX_RETRIES,
    acks_late=True,
)(_payment_method_verify)
FORMER_NAMES: dict[str, Any] = {
    "payments.check_approval_promise": payment_methods_check_promise_task,
    "payments.expire_cards": payment_methods_expire_task,
    "payments.settle_payments": payments_settle_task,
    "payments.refund_unapplied": payment_refund_unapplied_task,
    "payments.paypal_sync": payment_paypal_sync_task,
}
for _former, _task in FORMER_NAMES.items():
    shared_task(name=_former, acks_late=True)(forwarding_to(_task))
