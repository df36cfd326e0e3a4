"""The monthly cycle: each day's billing run issues the New and Recurring invoices, charges
them to the card on file, retries declined charges on the dunning schedule and charges late
fees on invoices still unpaid after their grace period.

The run is a list of accounts handed to the workers in chunks; everything done for an
account is safe to do again (invoices record how far they are issued, an automatic charge
is one row per invoice with its state checked under the account's lock, a late fee is one
row per invoice and period), so a chunk that a dying worker leaves half done is simply run
again. As everywhere, no lock is held while the gateway is called.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import Account, User, log_action
from invoices.models import Invoice
from invoices.money import round_money
from invoices.services import (
    ItemSpec,
    accounts_due_for_run,
    invoice_issue_credit,
    invoice_issue_one_time,
    recurring_run_account,
)

from .checkout import (
    amount_payable,
    attempt_mark_unknown,
    payment_record_outcome,
    payment_settle_card,
)
from .gateways import card_gateway
from .gateways.base import GatewayResult, GatewayTimeout, GatewayUnavailable, Outcome
from .models import AutoCharge, GatewayAttempt, LateFee, Payment, PaymentMethod
from .notices import tell, tell_no_card

CHARGED_TYPES = (Invoice.Type.NEW, Invoice.Type.RECURRING)
LATE_FEE_TYPES = (Invoice.Type.NEW, Invoice.Type.RECURRING, Invoice.Type.ONE_TIME)


# Which accounts a day's run concerns ----------------------------------------------------------


def _grace_cutoff(day: date) -> date:
    return day - timedelta(days=settings.LATE_FEE_GRACE_DAYS)


def billing_accounts(day: date, now: datetime) -> list[int]:
    """Ids of the accounts with something to do on `day`: invoices to issue, automatic
    charges due, or invoices past their grace period."""
    ids = set(accounts_due_for_run(day))
    ids.update(
        AutoCharge.objects.filter(
            state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now
        ).values_list("account_id", flat=True)
    )
    ids.update(
        Invoice.objects.filter(
            state=Invoice.State.OPEN,
            type__in=LATE_FEE_TYPES,
            due_date__lte=_grace_cutoff(day),
            late_fee_of__isnull=True,
        ).values_list("account_id", flat=True)
    )
    return sorted(ids)


def chunks(ids: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


# One account's day ---------------------------------------------------------------------------


@dataclass
class AccountRun:
    account_id: int
    issued: list[Invoice] = field(default_factory=list)
    charges: list[AutoCharge] = field(default_factory=list)
    late_fees: list[LateFee] = field(default_factory=list)


def billing_run_account(*, account_id: int, day: date, now: datetime) -> AccountRun:
    """Everything the monthly cycle does for one account on `day`; safe to run again."""
    run = AccountRun(account_id)
    with transaction.atomic():
        account = Account.objects.select_for_update().get(pk=account_id)
        result = recurring_run_account(account=account, day=day)
        run.issued = [*result.new, *result.recurring]
        for invoice in run.issued:
            invoice.refresh_from_db(fields=["balance", "state"])
            if invoice.balance > 0:
                # Issued in this very transaction: it has no automatic charge yet.
                AutoCharge.objects.create(invoice=invoice, account=account, next_attempt_at=now)
    due = AutoCharge.objects.filter(
        account_id=account_id, state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now
    ).order_by("invoice__issue_date", "invoice_id")
    run.charges = [
        autocharge_attempt(autocharge_id=pk, now=now) for pk in due.values_list("pk", flat=True)
    ]
    run.late_fees = late_fees_account(account_id=account_id, day=day)
    return run


def billing_run(*, day: date, now: datetime) -> list[AccountRun]:
    """The whole day in this process (what `run_billing` does by hand)."""
    from .services import payment_methods_expire

    payment_methods_expire(today=day)
    return [
        billing_run_account(account_id=account_id, day=day, now=now)
        for account_id in billing_accounts(day, now)
    ]


# Charging the card on file --------------------------------------------------------------------


def usable_card(account: Account, today: date) -> PaymentMethod | None:
    """The account's monthly card, if it can be charged: verified and not past its expiry."""
    card = PaymentMethod.objects.filter(
        account=account, is_monthly=True, state=PaymentMethod.State.VERIFIED
    ).first()
    if card is None or not card.credential:
        return None
    if card.expires_on is not None and card.expires_on <= today:
        return None
    return card


def autocharge_attempt(*, autocharge_id: int, now: datetime) -> AutoCharge:
    """Charge the invoice of an automatic charge to the card on file, if it is due.

    The payment (keyed by invoice and attempt) and its gateway attempt are committed before
    the gateway is called, so a task run twice, or run again after a worker died once the
    gateway answered, finds the charge under way and settles it by looking it up, never by
    charging again. Returns the automatic charge as it stands.
    """
    with transaction.atomic():
        account_id = AutoCharge.objects.values_list("account_id", flat=True).get(pk=autocharge_id)
        account = Account.objects.select_for_update().get(pk=account_id)
        charge = AutoCharge.objects.select_for_update().get(pk=autocharge_id)
        if charge.state == AutoCharge.State.CHARGING:
            pending = charge.payments.filter(state=Payment.State.PROCESSING).order_by("pk").last()
        else:
            pending = None
        if charge.state != AutoCharge.State.SCHEDULED or (
            charge.next_attempt_at is not None and charge.next_attempt_at > now
        ):
            payment = None
        else:
            payment = _start_charge(account, charge, now)
    if pending is not None:
        # A charge left without an answer (its worker died): ask the gateway once it has had
        # time to answer; it is recorded once, whoever records it first.
        quiet = now - timedelta(seconds=settings.PAYMENT_SETTLE_AFTER_SECONDS)
        if pending.created_at <= quiet:
            payment_settle_card(pending, now=now)
        return AutoCharge.objects.get(pk=autocharge_id)
    if payment is None:
        return AutoCharge.objects.get(pk=autocharge_id)
    attempt = payment.attempts.get()
    assert payment.payment_method is not None
    try:
        result = card_gateway().charge(
            credential=payment.payment_method.credential,
            amount=payment.amount,
            currency=payment.currency,
            idempotency_key=attempt.idempotency_key,
        )
    except GatewayTimeout as error:
        attempt_mark_unknown(attempt, str(error))
        return AutoCharge.objects.get(pk=autocharge_id)
    except GatewayUnavailable as error:
        result = GatewayResult(outcome=Outcome.FAILED, message=str(error), retryable=True)
    payment_record_outcome(payment_id=payment.pk, attempt_id=attempt.pk, result=result, now=now)
    return AutoCharge.objects.get(pk=autocharge_id)


def _start_charge(account: Account, charge: AutoCharge, now: datetime) -> Payment | None:
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
        log_action("payments.autocharge.no_card", obj=invoice, account=account)
        tell_no_card(account)
        return None
    amount = min(invoice.balance, amount_payable(account, invoice.currency))
    if amount <= 0:
        # Another payment of the same balance is under way: look again in an hour.
        charge.next_attempt_at = now + timedelta(hours=1)
        charge.save(update_fields=["next_attempt_at", "updated_at"])
        return None
    charge.attempts += 1
    charge.state = AutoCharge.State.CHARGING
    charge.next_attempt_at = None
    charge.save(update_fields=["attempts", "state", "next_attempt_at", "updated_at"])
    payment = Payment.objects.create(
        account=account,
        key=f"autocharge:{invoice.pk}:{charge.attempts}",
        method=Payment.Method.CARD_ON_FILE,
        state=Payment.State.PROCESSING,
        amount=amount,
        currency=invoice.currency,
        gateway=card.gateway,
        payment_method=card,
        autocharge=charge,
        brand=card.brand,
        last4=card.last4,
    )
    GatewayAttempt.objects.create(
        idempotency_key=f"payment:{payment.pk}:charge",
        gateway=card.gateway,
        kind=GatewayAttempt.Kind.CHARGE,
        payment=payment,
        payment_method=card,
    )
    log_action(
        "payments.autocharge.started",
        obj=payment,
        account=account,
        invoice=invoice.number,
        amount=str(amount),
        attempt=charge.attempts,
    )
    return payment


def autocharges_needing_customer(account: Account) -> QuerySet[AutoCharge]:
    """The account's automatic charges the customer should act on: declined (retrying or
    given up) or waiting for a card, on invoices still unpaid."""
    return (
        AutoCharge.objects.filter(account=account, invoice__state=Invoice.State.OPEN)
        .filter(
            Q(state=AutoCharge.State.NO_CARD)
            | Q(state__in=[AutoCharge.State.SCHEDULED, AutoCharge.State.FAILED], declines__gt=0)
        )
        .select_related("invoice")
        .order_by("invoice__issue_date", "invoice_id")
    )


def autocharges_due(now: datetime) -> list[int]:
    return list(
        AutoCharge.objects.filter(state=AutoCharge.State.SCHEDULED, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "pk")
        .values_list("pk", flat=True)
    )


# Late fees -----------------------------------------------------------------------------------


def late_fee_amount(overdue: Decimal, currency: str) -> Decimal:
    percent = overdue * settings.LATE_FEE_PERCENT / Decimal(100)
    return round_money(percent + settings.LATE_FEE_FIXED.get(currency, Decimal(0)), currency)


def _period(invoice: Invoice, day: date) -> int:
    late_since = invoice.due_date + timedelta(days=settings.LATE_FEE_GRACE_DAYS)
    every = settings.LATE_FEE_EVERY_DAYS
    return 0 if every <= 0 else (day - late_since).days // every


def late_fees_account(*, account_id: int, day: date) -> list[LateFee]:
    """Charge a late fee on each invoice of the account still unpaid after its grace period,
    once per invoice and period; a late fee is itself never charged a late fee."""
    overdue = Invoice.objects.filter(
        account_id=account_id,
        state=Invoice.State.OPEN,
        type__in=LATE_FEE_TYPES,
        due_date__lte=_grace_cutoff(day),
        late_fee_of__isnull=True,
    ).order_by("issue_date", "pk")
    fees = []
    for invoice in overdue:
        if settings.LATE_FEE_EVERY_DAYS <= 0 and invoice.late_fees.exists():
            continue
        fee = _charge_late_fee(invoice.pk, day)
        if fee is not None:
            fees.append(fee)
    return fees


@transaction.atomic
def _charge_late_fee(invoice_id: int, day: date) -> LateFee | None:
    account_id = Invoice.objects.values_list("account_id", flat=True).get(pk=invoice_id)
    account = Account.objects.select_for_update().get(pk=account_id)
    invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
    period = _period(invoice, day)
    if (
        invoice.state != Invoice.State.OPEN
        or LateFee.objects.filter(invoice=invoice, period=period).exists()
    ):
        return None
    amount = late_fee_amount(invoice.balance, invoice.currency)
    if amount <= 0:
        return None
    with translation.override(account.language):
        description = _("Late fee: invoice %(number)s unpaid since %(due)s") % {
            "number": invoice.number,
            "due": invoice.due_date.isoformat(),
        }
        category = _("Late fee")
    fee_invoice = invoice_issue_one_time(
        account=account,
        currency=invoice.currency,
        items=[ItemSpec(description=description, category=category, unit_price=amount)],
        issue_date=day,
        reason=description,
    )
    late_fee = LateFee.objects.create(
        invoice=invoice, period=period, fee_invoice=fee_invoice, overdue=invoice.balance
    )
    log_action(
        "payments.late_fee.charged",
        obj=fee_invoice,
        account=account,
        invoice=invoice.number,
        amount=str(amount),
    )
    tell(
        account,
        key=f"payments.late_fee.{late_fee.pk}",
        template="late_fee",
        context={"invoice": invoice, "late_fee": late_fee, "fee_invoice": fee_invoice},
    )
    return late_fee


@transaction.atomic
def late_fee_waive(*, late_fee: LateFee, by: User, reason: str = "") -> LateFee:
    """Staff waive a late fee: a Credit invoice that refers to it gives it back."""
    late_fee = LateFee.objects.select_for_update().select_related("fee_invoice").get(pk=late_fee.pk)
    if late_fee.waiver_id is not None:
        return late_fee
    with translation.override(late_fee.fee_invoice.account.language):
        reason = reason or _("Late fee waived")
    late_fee.waiver = invoice_issue_credit(
        original=late_fee.fee_invoice,
        amount=late_fee.fee_invoice.total,
        reason=reason,
        by=by,
    )
    late_fee.waived_by = by
    late_fee.save(update_fields=["waiver", "waived_by"])
    log_action(
        "payments.late_fee.waived",
        obj=late_fee.fee_invoice,
        account=late_fee.fee_invoice.account,
        actor=by,
    )
    return late_fee


# What a day's run would do (`run_billing --dry-run`) ------------------------------------------


@dataclass
class PlannedAccount:
    account: Account
    invoices: list[tuple[str, str, Decimal, str]] = field(default_factory=list)
    charges: list[tuple[str, Decimal, str, str]] = field(default_factory=list)
    late_fees: list[tuple[str, Decimal, str]] = field(default_factory=list)


class _Rollback(Exception):
    pass


def billing_plan(*, day: date, now: datetime) -> list[PlannedAccount]:
    """What the run for `day` would issue, charge and fee, without doing any of it: the
    invoices are issued in a transaction that is rolled back, and no gateway is called."""
    plans = []
    for account_id in billing_accounts(day, now):
        account = Account.objects.get(pk=account_id)
        plan = PlannedAccount(account)
        try:
            with transaction.atomic():
                result = recurring_run_account(account=account, day=day)
                issued = [*result.new, *result.recurring]
                for invoice in issued:
                    invoice.refresh_from_db(fields=["balance"])
                    plan.invoices.append(
                        (
                            invoice.get_type_display(),
                            invoice.number,
                            invoice.total,
                            invoice.currency,
                        )
                    )
                card = usable_card(account, day)
                to_charge = [i for i in issued if i.balance > 0] + [
                    c.invoice
                    for c in AutoCharge.objects.filter(
                        account=account,
                        state=AutoCharge.State.SCHEDULED,
                        next_attempt_at__lte=now,
                    ).select_related("invoice")
                ]
                for invoice in to_charge:
                    plan.charges.append(
                        (
                            invoice.number,
                            round_money(invoice.balance, invoice.currency),
                            invoice.currency,
                            str(card) if card else str(_("no usable card")),
                        )
                    )
                for invoice in Invoice.objects.filter(
                    account=account,
                    state=Invoice.State.OPEN,
                    type__in=LATE_FEE_TYPES,
                    due_date__lte=_grace_cutoff(day),
                    late_fee_of__isnull=True,
                ):
                    if not LateFee.objects.filter(
                        invoice=invoice, period=_period(invoice, day)
                    ).exists():
                        fee = late_fee_amount(invoice.balance, invoice.currency)
                        if fee > 0:
                            plan.late_fees.append((invoice.number, fee, invoice.currency))
                raise _Rollback
        except _Rollback:
            pass
        if plan.invoices or plan.charges or plan.late_fees:
            plans.append(plan)
    return plans
