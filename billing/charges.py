"""Charging the card on file: an automatic charge of each New and Recurring invoice,
tried when due and again on the dunning schedule (`billing.dunning`).

A charge follows the life of a payment in `payments.core`: under the account's lock the
payment (keyed by invoice and attempt) and its gateway attempt are recorded and committed,
the gateway is called with no lock held, and the outcome is recorded once by
`payments.core.payment_record_outcome`, which hands it back to `billing.dunning`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.audit import audit_entry, log_action, log_actions
from accounts.locks import account_lock
from accounts.models import Account
from invoices.models import Invoice
from invoices.money import round_money
from payments.core import (
    attempt_keep_reference,
    attempt_start,
    payment_record_outcome,
    payment_settle_card,
    payments_record_succeeded,
)
from payments.gateway import card_gateway, gateway_call
from payments.gateways.base import DeclineCategory, GatewayResult, Outcome
from payments.models import GatewayAttempt, Payment, PaymentMethod
from payments.one_time import payment_card_abandon, payment_card_confirmed
from payments.selectors import amount_payable, amounts_payable

from .audit import AUTOCHARGE_CONFIRMATION_REMINDED, AUTOCHARGE_NO_CARD, AUTOCHARGE_STARTED
from .models import AutoCharge, AutoChargePayment
from .notices import notice_needs_confirmation, notice_no_card

logger = logging.getLogger(__name__)


def usable_card(account: Account, today: date) -> PaymentMethod | None:
    """The account's monthly card, if it can be charged: verified, not past its expiry, and
    saved with the card processor in use (a card saved with another one cannot be charged
    through this one: the customer is told to add it again)."""
    card = PaymentMethod.objects.filter(
        account=account, is_monthly=True, state=PaymentMethod.State.VERIFIED
    ).first()
    if card is None or not card.credential or card.gateway != card_gateway().name:
        return None
    if card.expires_on is not None and card.expires_on <= today:
        return None
    return card


def _charge_lock(autocharge_id: int) -> tuple[Account, AutoCharge]:
    """The charge's Account, then the automatic charge (the order of `payments.locks`)."""
    account_id = AutoCharge.objects.values_list("account_id", flat=True).get(pk=autocharge_id)
    account = account_lock(account_id)
    return account, AutoCharge.objects.select_for_update().get(pk=autocharge_id)


def autocharge_attempt(*, autocharge_id: int, now: datetime) -> AutoCharge:
    """Charge the invoice of an automatic charge to the card on file, if it is due.

    The payment (keyed by invoice and attempt) and its gateway attempt are committed before
    the gateway is called, so a task run twice, or run again after a worker died once the
    gateway answered, finds the charge under way and settles it by looking it up, never by
    charging again. Returns the automatic charge as it stands.
    """
    with transaction.atomic():
        account, charge = _charge_lock(autocharge_id)
        pending = (
            charge.payments.filter(state=Payment.State.PROCESSING).order_by("pk").last()
            if charge.state == AutoCharge.State.CHARGING
            else None
        )
        due = charge.state == AutoCharge.State.SCHEDULED and (
            charge.next_attempt_at is None or charge.next_attempt_at <= now
        )
        started = _start_charge(account, charge, now) if due else None
    if pending is not None:
        # A charge left without an answer (its worker died): ask the gateway once it has had
        # time to answer; it is recorded once, whoever records it first.
        quiet = now - timedelta(seconds=settings.PAYMENT_SETTLE_AFTER_SECONDS)
        if pending.created_at <= quiet:
            payment_settle_card(payment=pending, now=now)
        return AutoCharge.objects.get(pk=autocharge_id)
    if started is None:
        return AutoCharge.objects.get(pk=autocharge_id)
    payment, attempt, card = started
    result = autocharge_send(
        StartedCharge(account.pk, autocharge_id, payment, attempt, card.credential)
    )
    if result is not None:
        payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result, now=now)
    return AutoCharge.objects.get(pk=autocharge_id)


def _start_charge(
    account: Account, charge: AutoCharge, now: datetime
) -> tuple[Payment, GatewayAttempt, PaymentMethod] | None:
    """Under the account's lock: record the payment and attempt, or say why not."""
    invoice = Invoice.objects.get(pk=charge.invoice_id)
    if invoice.balance <= 0:
        charge.state = AutoCharge.State.STOPPED
        charge.next_attempt_at = None
        charge.save(update_fields=["state", "next_attempt_at", "updated_at"])
        return None
    card = usable_card(account, timezone.localdate(now))
    if card is None:
        charge.state = AutoCharge.State.NO_CARD
        charge.next_attempt_at = None
        charge.save(update_fields=["state", "next_attempt_at", "updated_at"])
        log_action(AUTOCHARGE_NO_CARD, obj=invoice, account=account, invoice=invoice.number)
        notice_no_card(account=account)
        return None
    # In the currency's own digits (balances are stored with three): as the receipt, the
    # audit trail and the processor's message show it.
    amount = round_money(
        min(invoice.balance, amount_payable(account, invoice.currency)), invoice.currency
    )
    if amount <= 0:
        # Another payment of the same balance is under way: look again in an hour.
        charge.next_attempt_at = now + timedelta(hours=1)
        charge.save(update_fields=["next_attempt_at", "updated_at"])
        return None
    charge.attempts += 1
    charge.state = AutoCharge.State.CHARGING
    charge.next_attempt_at = None
    charge.save(update_fields=["attempts", "state", "next_attempt_at", "updated_at"])
    payment = _charge_payment(charge, invoice, card, amount)
    payment.save()
    charge.payments.add(payment)
    attempt = attempt_start(
        key=f"payment:{payment.pk}:charge",
        gateway=card.gateway,
        kind=GatewayAttempt.Kind.CHARGE,
        payment=payment,
        payment_method=card,
    )
    log_action(
        AUTOCHARGE_STARTED,
        obj=payment,
        account=account,
        invoice=invoice.number,
        amount=str(amount),
        currency=invoice.currency,
        attempt=charge.attempts,
    )
    return payment, attempt, card


def _charge_payment(
    charge: AutoCharge,
    invoice: Invoice,
    card: PaymentMethod,
    amount: Decimal,
    *,
    attempt: int | None = None,
) -> Payment:
    """The payment (not saved) of an automatic charge's attempt (its current one unless
    given), keyed by invoice and attempt."""
    return Payment(
        account_id=charge.account_id,
        key=f"autocharge:{invoice.pk}:{attempt or charge.attempts}",
        method=Payment.Method.CARD_ON_FILE,
        state=Payment.State.PROCESSING,
        amount=amount,
        currency=invoice.currency,
        gateway=card.gateway,
        payment_method=card,
        pay_first=invoice,
        brand=card.brand,
        last4=card.last4,
    )


def autocharges_needing_customer(account: Account) -> QuerySet[AutoCharge]:
    """The account's automatic charges the customer should act on: declined (retrying or
    given up) or waiting for a card, on invoices still unpaid."""
    return (
        AutoCharge.objects.filter(account=account, invoice__state=Invoice.State.OPEN)
        .filter(
            Q(state__in=[AutoCharge.State.NO_CARD, AutoCharge.State.NEEDS_CONFIRMATION])
            | Q(state__in=[AutoCharge.State.SCHEDULED, AutoCharge.State.FAILED], declines__gt=0)
        )
        .select_related("invoice")
        .order_by("invoice__issue_date", "invoice_id")
    )


def autocharges_due(*, now: datetime) -> list[int]:
    """The automatic charges whose next try is due (a processing error between runs)."""
    return list(
        AutoCharge.objects.filter(state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )


# Charges the bank asked the customer to confirm ------------------------------------------------


def autocharges_confirmation_sweep(*, now: datetime) -> tuple[int, int]:
    """Follow the automatic charges waiting for the customer's confirmation: ask the
    processor about each (a confirmation whose webhook was lost is recorded), remind the
    contacts once a day before the deadline, and give up those past it (the processor's
    intent is canceled, and the charge goes back to dunning).

    Returns how many reminders were sent and how many charges were given up now.
    """
    reminded = given_up = 0
    waiting = AutoCharge.objects.filter(state=AutoCharge.State.NEEDS_CONFIRMATION)
    for charge_id in waiting.values_list("pk", flat=True):
        try:
            outcome = _follow_confirmation(charge_id, now)
        except Exception:
            # One charge's trouble must not keep the others waiting.
            logger.exception("Following the confirmation of automatic charge %s failed.", charge_id)
            continue
        reminded += outcome == "reminded"
        given_up += outcome == "given_up"
    return reminded, given_up


def _follow_confirmation(charge_id: int, now: datetime) -> str:
    charge = AutoCharge.objects.get(pk=charge_id)
    payment = charge.payments.filter(state=Payment.State.REQUIRES_ACTION).order_by("pk").last()
    if payment is None:
        return ""
    payment = payment_card_confirmed(payment=payment)
    if not payment.needs_confirmation or charge.confirm_until is None:
        return ""
    if charge.confirm_until <= now:
        payment = payment_card_abandon(
            payment=payment, decline=DeclineCategory.AUTHENTICATION_REQUIRED
        )
        return "given_up" if payment.state == Payment.State.DECLINED else ""
    if charge.confirm_until - timedelta(days=1) <= now and _remind(charge_id, payment):
        return "reminded"
    return ""


@transaction.atomic
def _remind(charge_id: int, payment: Payment) -> int:
    account, charge = _charge_lock(charge_id)
    if charge.confirmation_reminded_at is not None or not charge.needs_confirmation:
        return 0
    charge.confirmation_reminded_at = timezone.now()
    charge.save(update_fields=["confirmation_reminded_at", "updated_at"])
    log_action(AUTOCHARGE_CONFIRMATION_REMINDED, obj=payment, account=account)
    notice_needs_confirmation(charge=charge, payment=payment, reminder=True)
    return 1


# A chunk of the billing run at once ----------------------------------------------------------


@dataclass(frozen=True)
class StartedCharge:
    """An automatic charge recorded (payment and gateway attempt committed) and due to be
    sent: what its call needs, with no database read."""

    account_id: int
    autocharge_id: int
    payment: Payment
    attempt: GatewayAttempt
    credential: str


def autocharges_start_together(
    charges: Sequence[AutoCharge], *, invoices: Mapping[int, Invoice], now: datetime
) -> list[StartedCharge]:
    """Record the first charge of automatic charges just scheduled for invoices issued in
    the caller's transaction, which holds their accounts' locks: for each, the payment and
    its gateway attempt, as `autocharge_attempt` records one, with one INSERT for each kind
    of row. Those this cannot start plainly (no usable card, another payment of the balance
    under way) are left scheduled, for `autocharge_attempt` to decide one by one."""
    if not charges:
        return []
    account_ids = sorted({charge.account_id for charge in charges})
    today = timezone.localdate(now)
    gateway_name = card_gateway().name
    cards: dict[int, PaymentMethod] = {}
    for card in PaymentMethod.objects.filter(
        account_id__in=account_ids, is_monthly=True, state=PaymentMethod.State.VERIFIED
    ).order_by("pk"):
        usable = card.credential and card.gateway == gateway_name
        if usable and (card.expires_on is None or card.expires_on > today):
            cards.setdefault(card.account_id, card)
    owed = amounts_payable(account_ids)
    starting: list[tuple[AutoCharge, Invoice, PaymentMethod, Decimal]] = []
    for charge in sorted(charges, key=lambda c: (c.account_id, c.invoice_id)):
        invoice = invoices[charge.invoice_id]
        monthly = cards.get(charge.account_id)
        key = (charge.account_id, invoice.currency)
        amount = round_money(min(invoice.balance, owed.get(key, Decimal(0))), invoice.currency)
        if monthly is None or amount <= 0 or charge.attempts:
            continue
        owed[key] -= amount
        starting.append((charge, invoice, monthly, amount))
    payments = Payment.objects.bulk_create(
        [
            _charge_payment(charge, invoice, card, amount, attempt=1)
            for charge, invoice, card, amount in starting
        ]
    )
    AutoChargePayment.objects.bulk_create(
        [
            AutoChargePayment(autocharge=charge, payment=payment)
            for (charge, *_rest), payment in zip(starting, payments, strict=True)
        ]
    )
    attempts = GatewayAttempt.objects.bulk_create(
        [
            GatewayAttempt(
                idempotency_key=f"payment:{payment.pk}:charge",
                gateway=payment.gateway,
                kind=GatewayAttempt.Kind.CHARGE,
                payment=payment,
                payment_method=payment.payment_method,
            )
            for payment in payments
        ]
    )
    changes = {
        "attempts": 1,
        "state": AutoCharge.State.CHARGING,
        "next_attempt_at": None,
        "updated_at": now,
    }
    AutoCharge.objects.filter(pk__in=[charge.pk for charge, *_rest in starting]).update(**changes)
    for charge, *_rest in starting:
        for name, value in changes.items():
            setattr(charge, name, value)
    log_actions(
        [
            audit_entry(
                AUTOCHARGE_STARTED,
                obj=payment,
                account=invoice.account,
                invoice=invoice.number,
                amount=str(amount),
                attempt=1,
            )
            for (_charge, invoice, _card, amount), payment in zip(starting, payments, strict=True)
        ]
    )
    return [
        StartedCharge(charge.account_id, charge.pk, payment, attempt, card.credential)
        for (charge, _invoice, card, _amount), payment, attempt in zip(
            starting, payments, attempts, strict=True
        )
    ]


def autocharge_send(started: StartedCharge) -> GatewayResult | None:
    """Make the call a started charge records (no lock or transaction held): the gateway's
    answer, or None when there is none for sure (the attempt is then left to be settled)."""
    payment, attempt = started.payment, started.attempt
    gateway = card_gateway()
    problem = gateway.amount_problem(payment.amount, payment.currency)
    if problem is not None:
        return GatewayResult(
            outcome=Outcome.DECLINED,
            decline=DeclineCategory(problem.kind.value),
            message=f"The card processor does not take {payment.amount} {payment.currency}.",
        )
    return gateway_call(
        attempt,
        lambda: gateway.charge(
            credential=started.credential,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=attempt.idempotency_key,
            on_reference=lambda reference: attempt_keep_reference(
                attempt=attempt, reference=reference
            ),
        ),
    )


def autocharges_record_outcomes(
    outcomes: Sequence[tuple[StartedCharge, GatewayResult]], *, now: datetime
) -> None:
    """Record the answers of started charges: the successes together
    (`payments_record_succeeded`), anything else one by one as `autocharge_attempt` does."""
    rest = payments_record_succeeded(
        outcomes=[(s.payment.pk, s.attempt.pk, result) for s, result in outcomes], now=now
    )
    for payment_id, attempt_id, result in rest:
        payment_record_outcome(payment_id=payment_id, attempt_id=attempt_id, result=result, now=now)
