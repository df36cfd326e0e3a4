"""Dunning: what becomes of an automatic charge once the gateway has answered, and when it
stops or starts again. These are the billing app's answers to the payments hooks
(registered in `BillingConfig.ready`): they run inside the payment's own transactions, with
the payment's Account locked."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.audit import log_action
from invoices.models import Invoice
from payments.gateways.base import GatewayResult, Outcome
from payments.models import FINAL_DECLINES, Payment, PaymentMethod

from .audit import AUTOCHARGE_DECLINED, AUTOCHARGE_NEEDS_CONFIRMATION, AUTOCHARGE_RETRY_SCHEDULED
from .models import AutoCharge, AutoChargePayment
from .notices import notice_declined, notice_needs_confirmation, notice_no_card


def payment_outcome_recorded(payment: Payment, result: GatewayResult, now: datetime) -> None:
    """A payment's outcome was recorded: dunning stops for the invoices it paid, and an
    automatic charge it was made for moves along."""
    if payment.state == Payment.State.SUCCEEDED:
        autocharges_stop_paid(payments=[payment])
    charge_id = (
        AutoChargePayment.objects.filter(payment=payment)
        .values_list("autocharge_id", flat=True)
        .first()
    )
    if charge_id is not None:
        autocharge_record_outcome(charge_id=charge_id, payment=payment, result=result, now=now)


def payments_succeeded_together(payments: Sequence[Payment], now: datetime) -> None:
    """`payment_outcome_recorded` for many payments that succeeded, recorded together (the
    billing run's): the same changes, with one statement for each kind rather than for each
    payment."""
    if not payments:
        return
    autocharges_stop_paid(payments=payments)
    charge_ids = AutoChargePayment.objects.filter(payment__in=payments).values_list(
        "autocharge_id", flat=True
    )
    charges = list(
        AutoCharge.objects.select_for_update()
        .filter(
            pk__in=list(charge_ids),
            state__in=[AutoCharge.State.CHARGING, AutoCharge.State.NEEDS_CONFIRMATION],
        )
        .order_by("pk")
    )
    owed = dict(
        Invoice.objects.filter(pk__in=[charge.invoice_id for charge in charges]).values_list(
            "pk", "balance"
        )
    )
    paid = [charge.pk for charge in charges if owed[charge.invoice_id] <= 0]
    # Only part was charged (another payment of the balance was under way and has not gone
    # through): the rest is charged later.
    partly = [charge.pk for charge in charges if owed[charge.invoice_id] > 0]
    updated_at = timezone.now()
    if paid:
        AutoCharge.objects.filter(pk__in=paid).update(
            state=AutoCharge.State.SUCCEEDED, confirm_until=None, updated_at=updated_at
        )
    if partly:
        AutoCharge.objects.filter(pk__in=partly).update(
            state=AutoCharge.State.SCHEDULED,
            next_attempt_at=now + timedelta(hours=1),
            confirm_until=None,
            updated_at=updated_at,
        )


def autocharge_record_outcome(
    *, charge_id: int, payment: Payment, result: GatewayResult, now: datetime
) -> None:
    """Move the automatic charge along (paid, retried on the dunning schedule, or given up)
    and tell the contacts of a decline."""
    charge = AutoCharge.objects.select_for_update().get(pk=charge_id)
    if charge.state not in (AutoCharge.State.CHARGING, AutoCharge.State.NEEDS_CONFIRMATION):
        return
    charge.confirm_until = None
    if payment.state == Payment.State.REQUIRES_ACTION:
        _wait_for_confirmation(charge, payment, now)
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
        charge.save(update_fields=["state", "next_attempt_at", "confirm_until", "updated_at"])
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
        charge.save(
            update_fields=[
                "processing_errors",
                "state",
                "next_attempt_at",
                "confirm_until",
                "updated_at",
            ]
        )
        log_action(
            AUTOCHARGE_RETRY_SCHEDULED,
            obj=payment,
            account=payment.account,
            invoice=charge.invoice.number,
            retry_at=charge.next_attempt_at.isoformat(),
        )
        return
    charge.declines += 1
    charge.decline_code = payment.decline_code or "generic"
    charge.first_declined_at = charge.first_declined_at or now
    schedule = settings.DUNNING_RETRY_DAYS
    if charge.decline_code not in FINAL_DECLINES and charge.declines <= len(schedule):
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
        AUTOCHARGE_DECLINED,
        obj=payment,
        account=payment.account,
        invoice=charge.invoice.number,
        decline=charge.decline_code,
        declines=charge.declines,
        retry_at=charge.next_attempt_at.isoformat() if charge.next_attempt_at else None,
    )
    notice_declined(charge=charge, payment=payment)


def _wait_for_confirmation(charge: AutoCharge, payment: Payment, now: datetime) -> None:
    """The bank wants the customer to confirm the charge: no retry is made meanwhile (a retry
    would be asked the same), and the contacts are sent to the page where they confirm it."""
    if charge.state == AutoCharge.State.NEEDS_CONFIRMATION:
        return
    charge.state = AutoCharge.State.NEEDS_CONFIRMATION
    charge.next_attempt_at = None
    charge.confirm_until = now + timedelta(days=settings.STRIPE_CONFIRMATION_DAYS)
    charge.confirmation_reminded_at = None
    charge.save(
        update_fields=[
            "state",
            "next_attempt_at",
            "confirm_until",
            "confirmation_reminded_at",
            "updated_at",
        ]
    )
    log_action(
        AUTOCHARGE_NEEDS_CONFIRMATION,
        obj=payment,
        account=payment.account,
        invoice=charge.invoice.number,
        until=charge.confirm_until.isoformat(),
    )
    notice_needs_confirmation(charge=charge, payment=payment)


def autocharges_stop_paid(*, payments: Sequence[Payment]) -> None:
    """Dunning stops for the invoices the payments paid in full."""
    AutoCharge.objects.filter(
        invoice__allocations__payment_link__payment__in=payments,
        invoice__state=Invoice.State.PAID,
        state__in=[AutoCharge.State.SCHEDULED, AutoCharge.State.NO_CARD],
    ).update(state=AutoCharge.State.STOPPED, next_attempt_at=None, updated_at=timezone.now())


def autocharges_resume(method: PaymentMethod, now: datetime) -> None:
    """A new monthly card: charges of unpaid invoices that waited for a usable card, were
    declined on the old one or ran out of tries are tried on it at once."""
    AutoCharge.objects.filter(
        account_id=method.account_id, invoice__state=Invoice.State.OPEN
    ).filter(
        Q(state__in=[AutoCharge.State.NO_CARD, AutoCharge.State.FAILED])
        | Q(state=AutoCharge.State.SCHEDULED, declines__gt=0)
    ).update(state=AutoCharge.State.SCHEDULED, next_attempt_at=now, updated_at=now)


def monthly_card_lost(method: PaymentMethod, now: datetime) -> None:
    """The monthly card expired: nothing is charged automatically any more; say so now, not
    at the next bill."""
    notice_no_card(account=method.account, lost=method)
