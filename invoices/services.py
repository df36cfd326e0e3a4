"""Issuing invoices and applying credits: every change of what is owed happens here.

Each service runs in one transaction and locks what it changes in a fixed order (the account,
then the number sequence, then the account's invoices by id; the order of every money path,
`payments.locks`), so that two workers issuing or applying at the same moment wait for each
other instead of losing an update or a number.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.audit import audit_entry, log_actions
from accounts.bulk import rows_update
from accounts.locks import account_lock
from accounts.models import Account, User
from accounts.outbox import QueuedEmail, emails_queue, render_email

from . import hooks
from .audit import INVOICE_ISSUED
from .models import (
    Allocation,
    Invoice,
    InvoiceItem,
    NumberSequence,
    RecurringCharge,
    VatCategory,
)
from .money import has_valid_precision, quantum, round_money, sum_money
from .tax import (
    MissingTaxRateError,
    RateTable,
    account_buyer_facts,
    rate_table_load,
    tax_decide,
    vat_breakdown,
)
from .vat import VatGroup, vat_groups

INVOICE_SEQUENCE = "invoice"


class InvoiceError(ValueError):
    """A request to issue or correct an invoice that the money rules do not allow."""


@dataclass(frozen=True)
class ItemSpec:
    """A line to put on an invoice; with details, its amount is the sum of theirs."""

    description: str
    unit_price: Decimal = Decimal(0)
    quantity: Decimal = Decimal(1)
    category: str = ""
    resource_label: str = ""
    period_start: date | None = None
    period_end: date | None = None
    details: Sequence[ItemSpec] = field(default_factory=tuple)


# Dates of the billing cycle ---------------------------------------------------------------


def billing_date_on_or_before(account: Account, day: date) -> date:
    """The last billing day of `account` that is `day` or earlier."""
    if day.day >= account.billing_day:
        return day.replace(day=account.billing_day)
    previous_month = day.replace(day=1) - timedelta(days=1)
    return previous_month.replace(day=account.billing_day)


def next_billing_date(account: Account, after: date) -> date:
    """The first billing day of `account` strictly after `after`."""
    if after.day < account.billing_day:
        return after.replace(day=account.billing_day)
    days_in_month = calendar.monthrange(after.year, after.month)[1]
    first_of_next = after.replace(day=days_in_month) + timedelta(days=1)
    return first_of_next.replace(day=account.billing_day)


# Issuing ----------------------------------------------------------------------------------


def _amount(spec: ItemSpec, currency: str, factor: Decimal) -> Decimal:
    if spec.details:
        return sum_money((_amount(d, currency, factor) for d in spec.details), currency)
    return round_money(spec.quantity * spec.unit_price * factor, currency)


def _reserve_numbers(count: int) -> list[str]:
    """A block of `count` consecutive invoice numbers, reserved by one locked update of the
    sequence (its row stays locked until the issuing transaction ends, so numbers have no
    gaps and come in the order they are issued)."""
    table = NumberSequence._meta.db_table
    for _attempt in range(2):
        with transaction.get_connection().cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET next_value = next_value + %s WHERE name = %s "  # noqa: S608
                "RETURNING next_value",
                [count, INVOICE_SEQUENCE],
            )
            row = cursor.fetchone()
        if row is not None:
            after = int(row[0])
            return [
                f"{settings.INVOICE_NUMBER_PREFIX}{value:0{settings.INVOICE_NUMBER_DIGITS}d}"
                for value in range(after - count, after)
            ]
        # Created on first use; ON CONFLICT DO NOTHING lets two first issuers race safely.
        NumberSequence.objects.bulk_create(
            [NumberSequence(name=INVOICE_SEQUENCE)], ignore_conflicts=True
        )
    raise RuntimeError("The invoice number sequence could not be created.")


@dataclass
class BuiltInvoice:
    """An invoice and its items as they will be issued, not saved yet (nor numbered): the
    items in their order, each with the index in `items` of its parent item."""

    invoice: Invoice
    items: list[tuple[InvoiceItem, int | None]]


def _build_items(
    built: list[tuple[InvoiceItem, int | None]],
    invoice: Invoice,
    specs: Sequence[ItemSpec],
    factor: Decimal,
    treatment: tuple[str, Decimal],
    parent: int | None = None,
) -> None:
    for spec in specs:
        item = InvoiceItem(
            invoice=invoice,
            position=len(built) + 1,
            description=spec.description,
            category=spec.category,
            resource_label=spec.resource_label,
            quantity=spec.quantity,
            unit_price=spec.unit_price,
            amount=_amount(spec, invoice.currency, factor),
            vat_category=treatment[0],
            vat_rate=treatment[1],
            period_start=spec.period_start,
            period_end=spec.period_end,
        )
        built.append((item, parent))
        if spec.details:
            _build_items(built, invoice, spec.details, factor, treatment, parent=len(built) - 1)


@dataclass(frozen=True)
class _Treatment:
    category: str
    rate: Decimal
    note: str
    tax_point: date | None
    evidence: Mapping[str, object]
    buyer_tax_id: str
    buyer_tax_id_kind: str
    buyer_invoice_title: str


def _decide(
    account: Account,
    tax_point: date,
    evidence: Mapping[str, str] | None,
    table: RateTable | None = None,
) -> _Treatment:
    """The rules' decision for `account` on `tax_point`; the evidence the apps above add
    (the monthly card's country) is asked of `hooks.tax_evidence` unless given, the rates
    of the database unless a preloaded `table` is given."""
    if evidence is None:
        evidence = hooks.tax_evidence([account])[account.pk]
    try:
        decision = tax_decide(
            buyer=account_buyer_facts(account, evidence=evidence),
            tax_point=tax_point,
            table=table,
        )
    except MissingTaxRateError as error:
        raise InvoiceError(
            _(
                "No %(kind)s tax rate of %(country)s is in force on %(date)s: add it under "
                "Invoices > Tax rates."
            )
            % {"kind": error.kind, "country": error.country, "date": error.day.isoformat()}
        ) from error
    # Both VAT numbers are printed on a reverse-charge invoice; any tax ID given is printed.
    return _Treatment(
        category=decision.category,
        rate=decision.rate,
        note=decision.note,
        tax_point=tax_point,
        evidence=decision.evidence,
        buyer_tax_id=account.tax_id,
        buyer_tax_id_kind=account.tax_id_kind,
        buyer_invoice_title=account.invoice_title,
    )


def _treatment_of(original: Invoice) -> _Treatment:
    """The treatment `original` was issued with: a correction keeps it (its first line's
    category and rate; the rules give every line of an invoice the same)."""
    first = original.items.filter(parent__isnull=True).order_by("position", "pk").first()
    return _Treatment(
        category=first.vat_category if first else VatCategory.OUTSIDE_SCOPE,
        rate=first.vat_rate if first else Decimal(0),
        note=original.tax_note,
        tax_point=original.tax_point,
        evidence={**original.tax_evidence, "corrects": original.number},
        buyer_tax_id=original.buyer_tax_id,
        buyer_tax_id_kind=original.buyer_tax_id_kind,
        buyer_invoice_title=original.buyer_invoice_title,
    )


def correction_net_amount(*, gross: Decimal, rate: Decimal, currency: str) -> Decimal:
    """The line amount (without VAT) of a correction that gives back `gross` with VAT at
    `rate`: the largest amount whose total with its rounded VAT is at most `gross` (exactly
    `gross` whenever some amount adds up to it, as the whole of an invoice's total does)."""
    if not rate:
        return gross
    step = quantum(currency)
    net = round_money(gross * 100 / (100 + rate), currency) + step
    while net > 0 and net + round_money(net * rate / 100, currency) > gross:
        net -= step
    return net


def invoice_build(
    *,
    account: Account,
    type: Invoice.Type,
    currency: str,
    items: Sequence[ItemSpec],
    issue_date: date,
    refers_to: Invoice | None = None,
    period: tuple[date, date] | None = None,
    reason: str = "",
    by: User | None = None,
    factor: Decimal = Decimal(1),
    tax_evidence: Mapping[str, str] | None = None,
    tax_table: RateTable | None = None,
) -> BuiltInvoice:
    """The invoice `items` make, with its items, totals and tax, unsaved and unnumbered:
    what every way of issuing (one invoice, or a chunk of the billing run at once) issues.
    Writes nothing. Raises InvoiceError when the money rules do not allow it.

    The tax is decided by `invoices.tax` for the tax point (the end of the service period of
    a New or Recurring invoice, else the issue date), or copied from `refers_to` for a
    Credit or Refund, which keeps the treatment of the invoice it corrects.
    """
    if not items:
        raise InvoiceError(_("An invoice needs at least one item."))
    for spec in items:
        for leaf in spec.details or (spec,):
            if leaf.details:
                raise InvoiceError(_("Detail items cannot have detail items of their own."))
    if refers_to is not None:
        treatment = _treatment_of(refers_to)
    else:
        treatment = _decide(account, period[1] if period else issue_date, tax_evidence, tax_table)
    category, rate = treatment.category, treatment.rate
    breakdown = vat_breakdown(
        lines=[(category, rate, _amount(spec, currency, factor)) for spec in items],
        currency=currency,
    )
    subtotal, tax, total = breakdown.subtotal, breakdown.tax, breakdown.total
    is_charge = type in Invoice.CHARGE_TYPES
    if is_charge and total < 0:
        raise InvoiceError(_("A charge cannot have a negative total."))
    if type == Invoice.Type.CREDIT:
        balance, state = total, Invoice.State.CREDIT_AVAILABLE
    elif type == Invoice.Type.REFUND:
        balance, state = Decimal(0), Invoice.State.CLOSED
    else:
        balance = total
        state = Invoice.State.OPEN if total > 0 else Invoice.State.PAID
    terms = settings.INVOICE_PAYMENT_TERMS_DAYS if is_charge else 0
    invoice = Invoice(
        account=account,
        number="",
        type=type,
        state=state,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=terms),
        currency=currency,
        subtotal=subtotal,
        tax_rate=rate,
        tax=tax,
        total=total,
        balance=balance,
        refers_to=refers_to,
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        reason=reason,
        seller_name=settings.SELLER_NAME,
        seller_address=settings.SELLER_ADDRESS,
        seller_tax_id=settings.SELLER_VAT_ID,
        seller_country=settings.SELLER_COUNTRY,
        seller_legal_mentions=settings.SELLER_LEGAL_MENTIONS,
        buyer_name=account.company_name,
        buyer_address="\n".join(account.address_lines()),
        buyer_country=account.country.code,
        buyer_tax_id=treatment.buyer_tax_id,
        buyer_tax_id_kind=treatment.buyer_tax_id_kind,
        buyer_invoice_title=treatment.buyer_invoice_title,
        tax_point=treatment.tax_point,
        tax_note=treatment.note,
        tax_evidence=dict(treatment.evidence),
        issued_by=by,
    )
    items_built: list[tuple[InvoiceItem, int | None]] = []
    _build_items(items_built, invoice, items, factor, (category, rate))
    return BuiltInvoice(invoice, items_built)


def invoices_issue_built(built: Sequence[BuiltInvoice]) -> list[Invoice]:
    """Issue built invoices (`invoice_build`) in their order: a block of numbers reserved,
    then one INSERT for the invoices, one for each level of items, one for the outbox and
    one for the audit trail. The caller's transaction holds the lock of every account
    concerned, taken before the sequence's."""
    if not built:
        return []
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("Invoices are issued inside the transaction that locks their accounts.")
    for each, number in zip(built, _reserve_numbers(len(built)), strict=True):
        each.invoice.number = number
    invoices = Invoice.objects.bulk_create([each.invoice for each in built])
    details: list[InvoiceItem] = []
    for each in built:
        for item, parent in each.items:
            item.invoice = each.invoice
            if parent is not None:
                details.append(item)
    InvoiceItem.objects.bulk_create(
        [item for each in built for item, parent in each.items if parent is None]
    )
    if details:
        for each in built:
            for item, parent in each.items:
                if parent is not None:
                    item.parent = each.items[parent][0]
        InvoiceItem.objects.bulk_create(details)
    _after_issue(
        invoices,
        breakdowns=[
            vat_groups((item for item, _parent in each.items), each.invoice.currency)
            for each in built
        ],
    )
    log_actions(
        [
            audit_entry(
                INVOICE_ISSUED,
                obj=invoice,
                account=invoice.account,
                actor=invoice.issued_by,
                number=invoice.number,
                type=invoice.type,
                total=str(invoice.total),
                currency=invoice.currency,
            )
            for invoice in invoices
        ]
    )
    return invoices


def _issue(
    *,
    account: Account,
    type: Invoice.Type,
    currency: str,
    items: Sequence[ItemSpec],
    issue_date: date,
    refers_to: Invoice | None = None,
    period: tuple[date, date] | None = None,
    reason: str = "",
    by: User | None = None,
    factor: Decimal = Decimal(1),
    tax_evidence: Mapping[str, str] | None = None,
) -> Invoice:
    """Create an issued invoice with its items; the caller holds the account's lock."""
    built = invoice_build(
        account=account,
        type=type,
        currency=currency,
        items=items,
        issue_date=issue_date,
        refers_to=refers_to,
        period=period,
        reason=reason,
        by=by,
        factor=factor,
        tax_evidence=tax_evidence,
    )
    [invoice] = invoices_issue_built([built])
    return invoice


def _after_issue(invoices: Sequence[Invoice], *, breakdowns: Sequence[list[VatGroup]]) -> None:
    """Render each PDF after the commit, and tell the billing contacts (outbox, same
    commit); `breakdowns` holds each invoice's VAT breakdown, which its email shows."""
    from .tasks import invoice_documents_render_task, invoices_documents_render_task

    if len(invoices) == 1:
        invoice_documents_render_task.delay(invoices[0].pk)
    else:
        # One message for all, which the PDF worker fans out (each invoice its own task).
        invoices_documents_render_task.delay([invoice.pk for invoice in invoices])
    emails = []
    recipients = Account.billing_emails_of({invoice.account_id for invoice in invoices})
    for invoice, groups in zip(invoices, breakdowns, strict=True):
        account = invoice.account
        context = {
            "invoice": invoice,
            "account": account,
            "vat_groups_by_invoice": {invoice.pk: groups},
            "url": settings.SITE_URL.rstrip("/") + reverse("invoices:detail", args=[invoice.pk]),
        }
        emails.append(
            QueuedEmail(
                key=f"invoices.invoice.issued:{invoice.pk}",
                account=account,
                to=recipients.get(account.pk, []),
                email=render_email(
                    "invoices/email/invoice_issued", context, language=account.language
                ),
                attachments=[
                    {"kind": "invoices.invoice_pdf", "id": invoice.pk, "language": account.language}
                ],
            )
        )
    emails_queue(emails)


@transaction.atomic
def invoice_issue_one_time(
    *,
    account: Account,
    items: Sequence[ItemSpec],
    currency: str | None = None,
    issue_date: date | None = None,
    reason: str = "",
    by: User | None = None,
    tax_evidence: Mapping[str, str] | None = None,
) -> Invoice:
    """Issue a One-time invoice (overage, a setup fee, a late fee) and apply open credits.

    Its tax is decided by the rules (`invoices.tax`) on the issue date.

    Raises InvoiceError when there are no items, an amount is negative or the unit prices
    need more decimals than make sense.
    """
    account = account_lock(account.pk)
    currency = currency or account.currency
    invoice = _issue(
        account=account,
        type=Invoice.Type.ONE_TIME,
        currency=currency,
        items=items,
        issue_date=issue_date or timezone.localdate(),
        reason=reason,
        by=by,
        tax_evidence=tax_evidence,
    )
    _apply_credits(account, currency)
    invoice.refresh_from_db(fields=["balance", "state"])
    return invoice


def _corrected(original: Invoice) -> Decimal:
    """What credits and refunds already gave back against `original`."""
    return sum_money(
        (
            -c.total
            for c in original.corrections.filter(
                type__in=[Invoice.Type.CREDIT, Invoice.Type.REFUND]
            )
        ),
        original.currency,
    )


def _correction_net(original: Invoice, amount: Decimal) -> Decimal:
    treatment = _treatment_of(original)
    return correction_net_amount(gross=amount, rate=treatment.rate, currency=original.currency)


def _validate_correction_amount(original: Invoice, amount: Decimal) -> None:
    if amount <= 0:
        raise InvoiceError(_("The amount must be greater than zero."))
    if not has_valid_precision(amount, original.currency):
        raise InvoiceError(
            _("%(currency)s amounts have no more decimals than the currency.")
            % {"currency": original.currency}
        )
    if not original.is_charge:
        raise InvoiceError(_("Only a charge (New, Recurring, One-time) can be corrected."))


@transaction.atomic
def invoice_issue_credit(
    *,
    original: Invoice,
    amount: Decimal,
    reason: str,
    issue_date: date | None = None,
    by: User | None = None,
) -> Invoice:
    """Issue a Credit invoice against `original` and apply it to what is owed, oldest first.

    Credits and refunds against one invoice never exceed its total. Raises InvoiceError
    otherwise, or
    for an amount that is zero, negative or has too many decimals.
    """
    account = account_lock(original.account_id)
    original = Invoice.objects.select_for_update().get(pk=original.pk)
    _validate_correction_amount(original, amount)
    if _corrected(original) + amount > original.total:
        raise InvoiceError(_("Credits and refunds against an invoice cannot exceed its total."))
    # The item is printed on the account's document: in the account's language.
    with translation.override(account.language):
        description = reason or _("Credit")
    net = _correction_net(original, amount)
    credit = _issue(
        account=account,
        type=Invoice.Type.CREDIT,
        currency=original.currency,
        items=[ItemSpec(description=description, unit_price=-net)],
        issue_date=issue_date or timezone.localdate(),
        refers_to=original,
        reason=reason,
        by=by,
    )
    # The credit pays the invoice it corrects first, then the oldest open ones.
    _apply_credits(account, original.currency, first=original)
    credit.refresh_from_db(fields=["balance", "state"])
    return credit


@transaction.atomic
def invoice_issue_refund(
    *,
    original: Invoice,
    amount: Decimal,
    reason: str,
    issue_date: date | None = None,
    by: User | None = None,
) -> Invoice:
    """Issue a Refund document: a record that `amount` paid on `original` was returned.

    It owes nothing either way. Refunds never exceed what was paid on the original, and
    credits and refunds together never exceed its total, so nothing is given back twice.
    """
    account = account_lock(original.account_id)
    original = Invoice.objects.select_for_update().get(pk=original.pk)
    _validate_correction_amount(original, amount)
    refunded = sum_money(
        (-r.total for r in original.corrections.filter(type=Invoice.Type.REFUND)),
        original.currency,
    )
    if refunded + amount > original.amount_applied:
        raise InvoiceError(_("A refund cannot exceed what was paid on the invoice."))
    if _corrected(original) + amount > original.total:
        raise InvoiceError(_("Credits and refunds against an invoice cannot exceed its total."))
    return _issue(
        account=account,
        type=Invoice.Type.REFUND,
        currency=original.currency,
        items=[
            ItemSpec(description=reason or "Refund", unit_price=-_correction_net(original, amount))
        ],
        issue_date=issue_date or timezone.localdate(),
        refers_to=original,
        reason=reason,
        by=by,
    )


# Applying amounts to invoices ----------------------------------------------------------------


def _apply_credits(account: Account, currency: str, first: Invoice | None = None) -> None:
    """Use the account's available credits in `currency` on its open charges, oldest first."""
    credits = list(
        Invoice.objects.select_for_update()
        .filter(account=account, currency=currency, state=Invoice.State.CREDIT_AVAILABLE)
        .order_by("pk")
    )
    if not credits:
        return
    charges = list(
        Invoice.objects.select_for_update()
        .filter(account=account, currency=currency, state=Invoice.State.OPEN)
        .order_by("pk")
    )
    charges.sort(key=lambda c: (c != first, c.issue_date, c.pk))
    for credit in credits:
        for charge in charges:
            available = -credit.balance
            if available <= 0:
                break
            if charge.balance <= 0:
                continue
            applied = min(available, charge.balance)
            Allocation.objects.create(
                invoice=charge,
                source=Allocation.Source.CREDIT,
                credit=credit,
                amount=applied,
                currency=currency,
            )
            _change_balance(charge, charge.balance - applied)
            _change_balance(credit, credit.balance + applied)


def _change_balance(invoice: Invoice, balance: Decimal) -> None:
    invoice.balance = balance
    if invoice.type == Invoice.Type.CREDIT:
        invoice.state = Invoice.State.CREDIT_AVAILABLE if balance < 0 else Invoice.State.CREDIT_USED
    else:
        invoice.state = Invoice.State.OPEN if balance > 0 else Invoice.State.PAID
    invoice.save(update_fields=["balance", "state"])


def invoice_apply_payment(*, invoice: Invoice, amount: Decimal, currency: str) -> Allocation:
    """Apply `amount` of a payment to `invoice`, inside the payment's transaction.

    The invoice is locked and read afresh here, whatever the caller holds. The payments app
    links its payment to the returned allocation. Raises InvoiceError for another currency,
    an amount above what is owed or with too many decimals.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("invoice_apply_payment must run inside the payment's transaction.")
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if currency != invoice.currency:
        raise InvoiceError(_("A payment applies only to invoices of its own currency."))
    if not invoice.is_charge:
        raise InvoiceError(_("Payments apply only to charges."))
    if amount <= 0 or amount > invoice.balance:
        raise InvoiceError(_("The amount must be above zero and at most what is owed."))
    if not has_valid_precision(amount, invoice.currency):
        raise InvoiceError(
            _("%(currency)s amounts have no more decimals than the currency.")
            % {"currency": invoice.currency}
        )
    allocation = Allocation.objects.create(
        invoice=invoice,
        source=Allocation.Source.PAYMENT,
        amount=amount,
        currency=invoice.currency,
    )
    _change_balance(invoice, invoice.balance - amount)
    return allocation


# The monthly run ---------------------------------------------------------------------------


def _charge_spec(
    charge: RecurringCharge, period: tuple[date, date], label_suffix: str = ""
) -> ItemSpec:
    details = tuple(
        ItemSpec(
            description=d.description,
            category=d.category,
            quantity=d.quantity,
            unit_price=d.unit_price,
            period_start=period[0],
            period_end=period[1] - timedelta(days=1),
        )
        for d in charge.details.all()
    )
    return ItemSpec(
        description=charge.description + label_suffix,
        category=charge.category,
        resource_label=charge.resource_label,
        quantity=charge.quantity if not details else Decimal(1),
        unit_price=charge.unit_price if not details else Decimal(0),
        period_start=period[0],
        period_end=period[1] - timedelta(days=1),
        details=details,
    )


@dataclass
class RunResult:
    new: list[Invoice] = field(default_factory=list)
    recurring: list[Invoice] = field(default_factory=list)


@dataclass
class _Planned:
    """One invoice a run issues for an account, and the charges it invoices through when."""

    built: BuiltInvoice
    charges: list[tuple[RecurringCharge, date]]


def _recurring_plan(
    account: Account,
    charges: Sequence[RecurringCharge],
    day: date,
    *,
    table: RateTable,
    evidence: Mapping[str, str],
) -> list[_Planned]:
    """The New and Recurring invoices `charges` (the account's active ones, locked, in id
    order) owe on `day`, built, in the order they are issued, taxed by the rates of `table`
    with the account's `evidence`; writes nothing."""
    planned: list[_Planned] = []
    currency = account.currency
    through = {charge.pk: charge.invoiced_through for charge in charges}

    starting = [c for c in charges if through[c.pk] is None]
    if starting:
        # Each charge is prorated on its own; they share one New invoice per start date.
        by_start: dict[date, list[RecurringCharge]] = {}
        for charge in starting:
            by_start.setdefault(charge.starts_on, []).append(charge)
        for starts_on, group in sorted(by_start.items()):
            cycle_start = billing_date_on_or_before(account, starts_on)
            cycle_end = next_billing_date(account, starts_on)
            factor = Decimal((cycle_end - starts_on).days) / Decimal((cycle_end - cycle_start).days)
            suffix = (
                ""
                if factor == 1
                else f" ({(cycle_end - starts_on).days}/" + (f"{(cycle_end - cycle_start).days})")
            )
            built = invoice_build(
                account=account,
                type=Invoice.Type.NEW,
                currency=currency,
                items=[_charge_spec(c, (starts_on, cycle_end), suffix) for c in group],
                issue_date=day,
                period=(starts_on, cycle_end - timedelta(days=1)),
                factor=factor,
                tax_evidence=evidence,
                tax_table=table,
            )
            planned.append(_Planned(built, [(c, cycle_end) for c in group]))
            for charge in group:
                through[charge.pk] = cycle_end

    # Every charge is billed from where its invoicing stopped, one period at a time, so a
    # billing day the workers missed is caught up on the next run instead of being lost.
    while True:
        due = [c for c in charges if (t := through[c.pk]) is not None and t <= day]
        if not due:
            break
        period_start = min(t for c in due if (t := through[c.pk]) is not None)
        group = [c for c in due if through[c.pk] == period_start]
        period_end = next_billing_date(account, period_start)
        built = invoice_build(
            account=account,
            type=Invoice.Type.RECURRING,
            currency=currency,
            items=[_charge_spec(c, (period_start, period_end)) for c in group],
            issue_date=day,
            period=(period_start, period_end - timedelta(days=1)),
            tax_evidence=evidence,
            tax_table=table,
        )
        planned.append(_Planned(built, [(c, period_end) for c in group]))
        for charge in group:
            through[charge.pk] = period_end
    return planned


def _recurring_issue(
    plans: Sequence[tuple[Account, list[_Planned]]],
) -> dict[int, RunResult]:
    """Issue the planned invoices of each account (one INSERT a kind of row for all), record
    how far each charge is invoiced (one UPDATE), and apply the open credits of the accounts
    that have any. The caller holds the accounts' locks and their charges'."""
    results = {account.pk: RunResult() for account, _plan in plans}
    everything = [each for _account, plan in plans for each in plan]
    invoices_issue_built([each.built for each in everything])
    changed: dict[int, RecurringCharge] = {}
    for each in everything:
        invoice = each.built.invoice
        result = results[invoice.account_id]
        (result.new if invoice.type == Invoice.Type.NEW else result.recurring).append(invoice)
        for charge, through in each.charges:
            charge.invoiced_through = through
            changed[charge.pk] = charge
    if changed:
        rows_update(list(changed.values()), ["invoiced_through"])
    issued = [account for account, plan in plans if plan]
    if issued:
        with_credits = set(
            Invoice.objects.filter(
                account__in=issued,
                currency__in={account.currency for account in issued},
                state=Invoice.State.CREDIT_AVAILABLE,
            ).values_list("account_id", "currency")
        )
        for account in issued:
            if (account.pk, account.currency) in with_credits:
                _apply_credits(account, account.currency)
                for invoice in [*results[account.pk].new, *results[account.pk].recurring]:
                    invoice.refresh_from_db(fields=["balance", "state"])
    return results


@transaction.atomic
def recurring_run_account(*, account: Account, day: date) -> RunResult:
    """Issue what `account` owes for its recurring charges on `day`; safe to run again.

    A charge that starts gets a New invoice prorated from its start to the next billing day;
    from then on, each period of a month is billed on its first day by a Recurring invoice,
    for every charge invoiced up to that day (periods missed while no run happened are issued
    by the next run, each as its own invoice). Each charge records how far it is invoiced,
    under the account's lock, so a second run for the same day finds nothing left to issue.
    """
    account = account_lock(account.pk)
    charges = list(
        RecurringCharge.objects.select_for_update()
        .filter(account=account)
        .active_on(day)
        .order_by("pk")
        .prefetch_related("details")
    )
    return recurring_plan_and_issue([account], {account.pk: charges}, day)[account.pk]


@transaction.atomic
def recurring_run_accounts(*, account_ids: Sequence[int], day: date) -> dict[int, RunResult]:
    """`recurring_run_account` for many accounts at once, in one transaction: the accounts
    locked together (in id order, as every worker takes them), their invoices issued with
    one block of numbers (in the accounts' order) and one INSERT for each kind of row.
    Returns each account's result; an error issues nothing for any of them."""
    accounts = list(Account.objects.select_for_update().filter(pk__in=account_ids).order_by("pk"))
    by_account: dict[int, list[RecurringCharge]] = {account.pk: [] for account in accounts}
    for charge in (
        RecurringCharge.objects.select_for_update()
        .filter(account__in=accounts)
        .active_on(day)
        .order_by("account_id", "pk")
        .prefetch_related("details")
    ):
        by_account[charge.account_id].append(charge)
    return recurring_plan_and_issue(accounts, by_account, day)


def recurring_plan_and_issue(
    accounts: Sequence[Account], charges: Mapping[int, Sequence[RecurringCharge]], day: date
) -> dict[int, RunResult]:
    """Build and issue what each of `accounts` (locked, with their `charges` by account id)
    owes on `day`: the rates loaded once and the apps' tax evidence asked once for all."""
    table = rate_table_load(
        countries={str(settings.SELLER_COUNTRY), *(a.country.code for a in accounts)}
    )
    evidence = hooks.tax_evidence(accounts)
    return _recurring_issue(
        [
            (
                account,
                _recurring_plan(
                    account,
                    charges[account.pk],
                    day,
                    table=table,
                    evidence=evidence.get(account.pk, {}),
                ),
            )
            for account in accounts
        ]
    )


def accounts_due_for_run(day: date) -> list[int]:
    """Ids of the accounts with something to issue on `day`: a charge that starts, or one
    invoiced only up to `day` or earlier."""
    due = RecurringCharge.objects.active_on(day).filter(
        Q(invoiced_through__isnull=True) | Q(invoiced_through__lte=day)
    )
    return sorted(set(due.values_list("account_id", flat=True)))
