"""Dunning: what becomes of an automatic charge once the gateway has answered, and when it
stops. Called inside the payment's own transactions (`payments.checkout`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.models import Account, log_action
from invoices.models import Invoice

from .gateways.base import GatewayResult, Outcome
from .models import AutoCharge, Payment
from .notices import tell_declined


def autocharge_record_outcome(payment: Payment, result: GatewayResult, now: datetime) -> None:
    """Inside the payment's outcome transaction: move its automatic charge along (paid,
    retried on the dunning schedule, or given up) and tell the contacts of a decline."""
    assert payment.autocharge_id is not None
    charge = AutoCharge.objects.select_for_update().get(pk=payment.autocharge_id)
    if charge.state != AutoCharge.State.CHARGING:
        return
    if payment.state == Payment.State.SUCCEEDED:
        owed = Invoice.objects.values_list("balance", flat=True).get(pk=charge.invoice_id)
        if owed > 0:
            # Only part was charged (another payment of the balance was under way and has
            # not gone through): charge the rest later.
            charge.state = AutoCharge.State.SCHEDULED
            charge.next_attempt_at = now + timedelta(hours=1)
        else:
            charge.state = AutoCharge.State.SUCCEEDED
        charge.save(update_fields=["state", "next_attempt_at", "updated_at"])
        return
    if payment.state == Payment.State.PENDING:
        return
    retry_soon = (
        result.outcome == Outcome.FAILED
        and result.retryable
        and charge.processing_errors < settings.DUNNING_PROCESSING_RETRIES
    )
    if retry_soon:
        # Nothing was declined: the gateway could not process it. Try again within hours.
        charge.processing_errors += 1
        charge.state = AutoCharge.State.SCHEDULED
        charge.next_attempt_at = now + timedelta(minutes=settings.DUNNING_PROCESSING_RETRY_MINUTES)
        charge.save(update_fields=["processing_errors", "state", "next_attempt_at", "updated_at"])
        return
    charge.declines += 1
    charge.decline_code = payment.decline_code or "generic"
    charge.first_declined_at = charge.first_declined_at or now
    schedule = settings.DUNNING_RETRY_DAYS
    if charge.declines <= len(schedule):
        # Days after the first decline; never sooner than a day after this one (a decline
        # on a card set long after the first would otherwise be retried at once).
        charge.state = AutoCharge.State.SCHEDULED
        charge.next_attempt_at = max(
            charge.first_declined_at + timedelta(days=schedule[charge.declines - 1]),
            now + timedelta(days=1),
        )
    else:
        charge.state = AutoCharge.State.FAILED
        charge.next_attempt_at = None
    charge.save()
    log_action(
        "payments.autocharge.declined",
        obj=payment,
        account=payment.account,
        decline=charge.decline_code,
        declines=charge.declines,
    )
    tell_declined(charge, payment)


def autocharges_stop_paid(invoice_ids: list[int]) -> None:
    """Dunning stops for invoices that are paid now (by the customer, a credit...)."""
    AutoCharge.objects.filter(
        invoice_id__in=invoice_ids,
        invoice__state=Invoice.State.PAID,
        state__in=[AutoCharge.State.SCHEDULED, AutoCharge.State.NO_CARD],
    ).update(state=AutoCharge.State.STOPPED, next_attempt_at=None, updated_at=timezone.now())


def autocharges_resume(account: Account, now: datetime) -> None:
    """A new monthly card: charges of unpaid invoices that waited for a usable card, were
    declined on the old one or ran out of tries are tried on it at once."""
    AutoCharge.objects.filter(account=account, invoice__state=Invoice.State.OPEN).filter(
        Q(state__in=[AutoCharge.State.NO_CARD, AutoCharge.State.FAILED])
        | Q(state=AutoCharge.State.SCHEDULED, declines__gt=0)
    ).update(state=AutoCharge.State.SCHEDULED, next_attempt_at=now, updated_at=now)
