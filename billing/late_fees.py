"""Late fees: an invoice still unpaid LATE_FEE_GRACE_DAYS after its due date gets a One-time
invoice of a late fee, once per invoice and period; staff may waive one with a Credit."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.audit import log_action
from accounts.locks import account_lock
from accounts.models import User
from invoices.models import Invoice
from invoices.money import round_money
from invoices.services import ItemSpec, invoice_issue_credit, invoice_issue_one_time
from payments.locks import invoice_lock

from .audit import LATE_FEE_CHARGED, LATE_FEE_WAIVED
from .models import LateFee
from .notices import notice_send

LATE_FEE_TYPES = (Invoice.Type.NEW, Invoice.Type.RECURRING, Invoice.Type.ONE_TIME)


def grace_cutoff(day: date) -> date:
    """Invoices due on or before this day are past their grace period on `day`."""
    return day - timedelta(days=settings.LATE_FEE_GRACE_DAYS)


def overdue_invoices(day: date) -> QuerySet[Invoice]:
    """The invoices a late fee may be charged on, on `day` (a late fee itself never is)."""
    return Invoice.objects.filter(
        state=Invoice.State.OPEN,
        type__in=LATE_FEE_TYPES,
        due_date__lte=grace_cutoff(day),
        late_fee_of__isnull=True,
    )


def late_fee_amount(overdue: Decimal, currency: str) -> Decimal:
    percent = overdue * settings.LATE_FEE_PERCENT / Decimal(100)
    return round_money(percent + settings.LATE_FEE_FIXED.get(currency, Decimal(0)), currency)


def late_fee_period(invoice: Invoice, day: date) -> int:
    """Which late-fee period of the invoice `day` falls in (0, 1, ... every LATE_FEE_EVERY_DAYS)."""
    late_since = invoice.due_date + timedelta(days=settings.LATE_FEE_GRACE_DAYS)
    every = settings.LATE_FEE_EVERY_DAYS
    return 0 if every <= 0 else (day - late_since).days // every


def late_fees_account(*, account_id: int, day: date) -> list[LateFee]:
    """Charge a late fee on each invoice of the account still unpaid after its grace period,
    once per invoice and period."""
    fees = []
    for invoice in overdue_invoices(day).filter(account_id=account_id).order_by("issue_date", "pk"):
        if settings.LATE_FEE_EVERY_DAYS <= 0 and invoice.late_fees.exists():
            continue
        fee = _charge_late_fee(invoice.pk, day)
        if fee is not None:
            fees.append(fee)
    return fees


@transaction.atomic
def _charge_late_fee(invoice_id: int, day: date) -> LateFee | None:
    account, invoice = invoice_lock(invoice_id)
    period = late_fee_period(invoice, day)
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
            "due": date_format(invoice.due_date),
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
        LATE_FEE_CHARGED,
        obj=fee_invoice,
        account=account,
        invoice=invoice.number,
        amount=str(amount),
    )
    notice_send(
        account=account,
        key=f"payments.late_fee.{late_fee.pk}",
        template="late_fee",
        context={"invoice": invoice, "late_fee": late_fee, "fee_invoice": fee_invoice},
    )
    return late_fee


@transaction.atomic
def late_fee_waive(*, late_fee: LateFee, by: User, reason: str = "") -> LateFee:
    """Staff waive a late fee: a Credit invoice that refers to it gives it back."""
    account_lock(late_fee.fee_invoice.account_id)
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
        LATE_FEE_WAIVED,
        obj=late_fee.fee_invoice,
        account=late_fee.fee_invoice.account,
        actor=by,
    )
    return late_fee
