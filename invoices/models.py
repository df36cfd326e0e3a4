"""Invoices, their itemised line items, what has been applied to them, and recurring charges.

An issued invoice is a document: its items, amounts, seller and buyer never change. Only what
is still owed on it (`balance`, and `state` with it) moves, when a credit or a payment is
applied. A correction is a new Credit or Refund invoice that refers to the original.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.bulk import rows_update
from accounts.currencies import CURRENCY_CHOICES
from accounts.models import Account

from .money import format_money


def MoneyField(verbose_name: Any, **kwargs: Any) -> models.DecimalField[Decimal, Decimal]:
    """An amount, stored with room for any ISO 4217 exponent (at most 3)."""
    return models.DecimalField(verbose_name, max_digits=18, decimal_places=3, **kwargs)


class ImmutableInvoiceError(Exception):
    """Raised on an attempt to change or delete an issued invoice or its items."""


class VatCategory(models.TextChoices):
    """EN 16931's VAT category codes (UNTDID 5305), as an e-invoice states them."""

    STANDARD = "S", _("Standard rate")
    ZERO = "Z", _("Zero rated")
    EXEMPT = "E", _("Exempt from VAT")
    REVERSE_CHARGE = "AE", _("Reverse charge")
    OUTSIDE_SCOPE = "O", _("Outside the scope of VAT")


class RateKind(models.TextChoices):
    """Which of a country's rates a supply takes. The portal sells hosting: in the EU an
    electronically supplied service at the standard rate; in China a value-added
    telecommunication service (IDC, CDN, ICP), taxed at 6%."""

    STANDARD = "standard", _("Standard rate")
    TELECOM = "telecom", _("Value-added telecommunication services")


def _only_new(objs: Iterable[models.Model], kwargs: dict[str, Any], what: str) -> list[Any]:
    """The guard `save()` keeps, for `bulk_create` (which bypasses `save()`): it may add
    invoices and items being issued, never write over issued ones."""
    objs = list(objs)
    if kwargs.get("update_conflicts") or kwargs.get("ignore_conflicts"):
        raise ImmutableInvoiceError(f"{what} are only ever added: no conflict is resolved.")
    if any(obj.pk is not None for obj in objs):
        raise ImmutableInvoiceError(f"{what} already issued are never written again.")
    return objs


class InvoiceQuerySet(models.QuerySet["Invoice"]):
    def bulk_create(self, objs: Iterable[Invoice], *args: Any, **kwargs: Any) -> list[Invoice]:
        return super().bulk_create(_only_new(objs, kwargs, "Invoices"), *args, **kwargs)

    def bulk_update(
        self, objs: Iterable[Invoice], fields: Iterable[str], batch_size: int | None = None
    ) -> int:
        """One UPDATE (`rows_update`, cheaper than Django's CASE for each row); as `save()`,
        of an issued invoice only what is owed on it changes."""
        fields = list(fields)
        if not set(fields) <= Invoice.MUTABLE_FIELDS:
            raise ImmutableInvoiceError(
                f"Invoices are issued; only {sorted(Invoice.MUTABLE_FIELDS)} change."
            )
        return rows_update(list(objs), fields, using=self.db, batch_size=batch_size)

    def for_account(self, account: Account) -> InvoiceQuerySet:
        return self.filter(account=account)

    def open(self) -> InvoiceQuerySet:
        return self.filter(state=Invoice.State.OPEN)


class Invoice(models.Model):
    class Type(models.TextChoices):
        NEW = "new", _("New")
        RECURRING = "recurring", _("Recurring")
        ONE_TIME = "one_time", _("One-time")
        CREDIT = "credit", _("Credit")
        REFUND = "refund", _("Refund")

    class State(models.TextChoices):
        # A charge with something still owed on it.
        OPEN = "open", _("Open")
        # A charge paid in full.
        PAID = "paid", _("Paid")
        # A credit with value left to apply to later charges.
        CREDIT_AVAILABLE = "credit_available", _("Credit available")
        # A credit used up on charges.
        CREDIT_USED = "credit_used", _("Credit used")
        # A refund document: a record of money returned, nothing owed either way.
        CLOSED = "closed", _("Closed")

    CHARGE_TYPES: ClassVar[tuple[str, ...]] = (Type.NEW, Type.RECURRING, Type.ONE_TIME)

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="invoices", verbose_name=_("account")
    )
    number = models.CharField(_("invoice number"), max_length=32, unique=True)
    type = models.CharField(_("type"), max_length=16, choices=Type.choices)
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    issue_date = models.DateField(_("date"))
    due_date = models.DateField(_("due date"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    subtotal = MoneyField(_("subtotal"))
    tax_rate = models.DecimalField(_("tax rate (%)"), max_digits=6, decimal_places=3, default=0)
    tax = MoneyField(_("tax"))
    total = MoneyField(_("total"))
    balance = MoneyField(
        _("balance"),
        help_text=_("Still owed on a charge; unapplied credit (negative) on a credit."),
    )
    refers_to = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="corrections",
        verbose_name=_("refers to"),
    )
    # The recurring period an invoice of a series covers (New and Recurring invoices).
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=255, blank=True)

    # The parties, copied in when the invoice is issued, as the document states them.
    seller_name = models.CharField(_("seller"), max_length=200)
    seller_address = models.TextField(_("seller address"))
    seller_tax_id = models.CharField(_("seller tax ID"), max_length=64, blank=True)
    seller_country = models.CharField(_("seller country"), max_length=2, blank=True, db_default="")
    # The seller's other registrations and legal mentions, one per line, as printed.
    seller_legal_mentions = models.TextField(_("seller legal mentions"), blank=True, db_default="")
    buyer_name = models.CharField(_("bill to"), max_length=200)
    buyer_address = models.TextField(_("buyer address"))
    buyer_country = models.CharField(_("buyer country"), max_length=2)
    buyer_tax_id = models.CharField(_("buyer tax ID"), max_length=64, blank=True, db_default="")
    # The kind of `buyer_tax_id` (accounts' tax ID kinds: EU VAT, UK VAT, China's unified
    # social credit code, other), so a document can label it and an e-invoice scheme it.
    buyer_tax_id_kind = models.CharField(
        _("buyer tax ID kind"), max_length=16, blank=True, db_default=""
    )
    buyer_invoice_title = models.CharField(
        _("invoice title"), max_length=200, blank=True, db_default=""
    )

    # The tax treatment the invoice was issued with, decided once and never recomputed: the
    # date whose rates applied, the legal note to print (a key the documents translate), and
    # the facts the decision rested on (billing country, card country, client address...).
    tax_point = models.DateField(_("tax point"), null=True, blank=True)
    tax_note = models.CharField(_("tax note"), max_length=32, blank=True, db_default="")
    tax_evidence = models.JSONField(
        _("tax evidence"), default=dict, blank=True, db_default=models.Value({}, models.JSONField())
    )

    issued_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("issued by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = InvoiceQuerySet.as_manager()

    # Only what is owed moves after issuing.
    MUTABLE_FIELDS: ClassVar[frozenset[str]] = frozenset({"balance", "state"})

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issue_date", "-pk"]
        indexes = [
            models.Index(fields=["account", "-issue_date", "-id"], name="invoice_account_newest"),
            models.Index(fields=["account", "currency", "state"], name="invoice_account_open"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(type__in=["new", "recurring", "one_time"], total__gte=0)
                | models.Q(type__in=["credit", "refund"], total__lte=0),
                name="invoice_total_sign_by_type",
            ),
            models.CheckConstraint(
                condition=models.Q(type__in=["new", "recurring", "one_time"], balance__gte=0)
                | models.Q(type="credit", balance__lte=0)
                | models.Q(type="refund", balance=0),
                name="invoice_balance_sign_by_type",
            ),
            models.CheckConstraint(
                condition=models.Q(type__in=["credit", "refund"], refers_to__isnull=False)
                | models.Q(type__in=["new", "recurring", "one_time"]),
                name="invoice_correction_refers_to_original",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            update_fields = kwargs.get("update_fields")
            if update_fields is None or not set(update_fields) <= self.MUTABLE_FIELDS:
                raise ImmutableInvoiceError(
                    f"Invoice {self.number} is issued; only {sorted(self.MUTABLE_FIELDS)} change."
                )
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableInvoiceError(f"Invoice {self.number} is issued and cannot be deleted.")

    @property
    def is_charge(self) -> bool:
        return self.type in self.CHARGE_TYPES

    @property
    def amount_applied(self) -> Decimal:
        """On a charge, what credits and payments have paid; on a credit, what was used."""
        if self.type == self.Type.REFUND:
            return Decimal(0)
        return Decimal(abs(self.total - self.balance))


class InvoiceItemQuerySet(models.QuerySet["InvoiceItem"]):
    def bulk_create(
        self, objs: Iterable[InvoiceItem], *args: Any, **kwargs: Any
    ) -> list[InvoiceItem]:
        return super().bulk_create(_only_new(objs, kwargs, "Invoice items"), *args, **kwargs)


class InvoiceItem(models.Model):
    """A billing item of an invoice, or (with a parent) one of an item's detail items."""

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="items", verbose_name=_("invoice")
    )
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="details",
        verbose_name=_("item"),
    )
    position = models.PositiveIntegerField(_("position"))
    description = models.CharField(_("description"), max_length=255)
    category = models.CharField(_("category"), max_length=100, blank=True)
    resource_label = models.CharField(
        _("resource"), max_length=255, blank=True, help_text=_("For example a host name.")
    )
    quantity = models.DecimalField(_("quantity"), max_digits=18, decimal_places=6, default=1)
    unit_price = models.DecimalField(_("unit price"), max_digits=18, decimal_places=6)
    amount = MoneyField(_("amount"))
    # A detail item carries its parent's category and rate; the e-invoice's lines are the
    # top-level items.
    vat_category = models.CharField(
        _("VAT category"),
        max_length=2,
        choices=VatCategory.choices,
        default=VatCategory.STANDARD,
        db_default=VatCategory.STANDARD,
    )
    vat_rate = models.DecimalField(
        _("VAT rate (%)"), max_digits=6, decimal_places=3, default=0, db_default=0
    )
    period_start = models.DateField(_("period start"), null=True, blank=True)
    period_end = models.DateField(_("period end"), null=True, blank=True)

    objects = InvoiceItemQuerySet.as_manager()

    class Meta:
        verbose_name = _("invoice item")
        verbose_name_plural = _("invoice items")
        ordering = ["invoice_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="item_position_unique"),
        ]

    def __str__(self) -> str:
        return self.description

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ImmutableInvoiceError("The items of an issued invoice never change.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableInvoiceError("The items of an issued invoice are never deleted.")


class Allocation(models.Model):
    """An amount applied to a charge invoice: from a credit invoice, or from a payment.

    The payments app links its payments to these rows (it depends on invoices, not the other
    way round); `check_balances` recomputes every balance from them.
    """

    class Source(models.TextChoices):
        CREDIT = "credit", _("Credit")
        PAYMENT = "payment", _("Payment")

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("invoice")
    )
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    credit = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_allocations",
        verbose_name=_("credit"),
    )
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    created_at = models.DateTimeField(_("applied"), auto_now_add=True)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="allocation_positive"),
            models.CheckConstraint(
                condition=models.Q(source="credit", credit__isnull=False)
                | models.Q(source="payment", credit__isnull=True),
                name="allocation_credit_has_source",
            ),
        ]

    def __str__(self) -> str:
        return f"{format_money(self.amount, self.currency)} → {self.invoice_id}"


class NumberSequence(models.Model):
    """The next invoice number, locked in the issuing transaction so numbers have no gaps."""

    name = models.CharField(max_length=32, primary_key=True)
    next_value = models.PositiveBigIntegerField(default=1)

    class Meta:
        verbose_name = _("number sequence")
        verbose_name_plural = _("number sequences")

    def __str__(self) -> str:
        return f"{self.name}: {self.next_value}"


class RecurringChargeQuerySet(models.QuerySet["RecurringCharge"]):
    def active_on(self, day: date) -> RecurringChargeQuerySet:
        return self.filter(starts_on__lte=day).filter(
            models.Q(ends_on__isnull=True) | models.Q(ends_on__gt=day)
        )


class RecurringCharge(models.Model):
    """Something an account is billed for every month, such as a server or a licence."""

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="recurring_charges",
        verbose_name=_("account"),
    )
    description = models.CharField(_("description"), max_length=255)
    category = models.CharField(_("category"), max_length=100, blank=True)
    resource_label = models.CharField(_("resource"), max_length=255, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=18, decimal_places=6, default=1)
    unit_price = models.DecimalField(
        _("unit price"),
        max_digits=18,
        decimal_places=6,
        default=0,
        help_text=_("Per month; ignored when the charge has detail items."),
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    # End (exclusive) of the last period invoiced; None until the New invoice is issued.
    invoiced_through = models.DateField(_("invoiced through"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    objects = RecurringChargeQuerySet.as_manager()

    class Meta:
        verbose_name = _("recurring charge")
        verbose_name_plural = _("recurring charges")
        ordering = ["account_id", "starts_on", "pk"]

    def __str__(self) -> str:
        return self.description


class RecurringChargeDetail(models.Model):
    """A detail item of a recurring charge (the CPU, memory and disk of a server, say)."""

    charge = models.ForeignKey(
        RecurringCharge,
        on_delete=models.CASCADE,
        related_name="details",
        verbose_name=_("recurring charge"),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    description = models.CharField(_("description"), max_length=255)
    category = models.CharField(_("category"), max_length=100, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=18, decimal_places=6, default=1)
    unit_price = models.DecimalField(_("unit price"), max_digits=18, decimal_places=6)

    class Meta:
        verbose_name = _("detail item")
        verbose_name_plural = _("detail items")
        ordering = ["charge_id", "position", "pk"]

    def __str__(self) -> str:
        return self.description


class InvoiceDocument(models.Model):
    """The rendered PDF of an invoice in one language, stored through Django's storage.

    `input_hash` covers everything the PDF shows that can change (what is owed) and the
    template's version; a document whose hash still matches is served as it is.
    """

    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="documents", verbose_name=_("invoice")
    )
    language = models.CharField(_("language"), max_length=10)
    input_hash = models.CharField(_("input hash"), max_length=64, blank=True)
    file = models.FileField(_("file"), max_length=255, blank=True)
    # The EN 16931 (Factur-X) XML embedded in `file`, also stored on its own for download.
    xml = models.FileField(_("e-invoice XML"), max_length=255, blank=True, db_default="")
    pages = models.PositiveIntegerField(_("pages"), default=0)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    rendered_at = models.DateTimeField(_("rendered"), null=True, blank=True)

    class Meta:
        verbose_name = _("invoice document")
        verbose_name_plural = _("invoice documents")
        constraints = [
            models.UniqueConstraint(
                fields=["invoice", "language"], name="invoice_document_per_language"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} ({self.language})"


class TaxRateQuerySet(models.QuerySet["TaxRate"]):
    def in_force_on(self, day: date) -> TaxRateQuerySet:
        return self.filter(valid_from__lte=day).filter(
            models.Q(valid_to__isnull=True) | models.Q(valid_to__gte=day)
        )


class TaxRate(models.Model):
    """A country's VAT (or sales tax) rate of one kind, in force from `valid_from` to
    `valid_to` (both included; open-ended without `valid_to`). Rates are dated data: a new
    rate is a new row from its first day, and the old row gets its last day, so an invoice
    takes the rate in force on its tax point and issued invoices keep theirs."""

    country = models.CharField(_("country"), max_length=2, help_text=_("ISO 3166 code, e.g. DE."))
    kind = models.CharField(
        _("kind"), max_length=16, choices=RateKind.choices, default=RateKind.STANDARD
    )
    vat_category = models.CharField(
        _("VAT category"), max_length=2, choices=VatCategory.choices, default=VatCategory.STANDARD
    )
    rate = models.DecimalField(_("rate (%)"), max_digits=6, decimal_places=3)
    valid_from = models.DateField(_("valid from"))
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=255, blank=True)

    objects = TaxRateQuerySet.as_manager()

    class Meta:
        verbose_name = _("tax rate")
        verbose_name_plural = _("tax rates")
        ordering = ["country", "kind", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["country", "kind", "valid_from"], name="tax_rate_one_per_start"
            ),
            models.CheckConstraint(
                condition=models.Q(valid_to__isnull=True)
                | models.Q(valid_to__gte=models.F("valid_from")),
                name="tax_rate_valid_to_after_from",
            ),
            models.CheckConstraint(
                condition=models.Q(rate__gte=0, rate__lte=100), name="tax_rate_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.country} {self.get_kind_display()} {self.rate}%"


class SellerTaxCountry(models.Model):
    """A buyer country where a seller established outside the EU charges tax (it is
    registered there, or the law makes it collect): its customers there are charged that
    country's rate of `kind`. Without a row a non-EU seller charges no tax (category O).
    An EU seller's treatment follows the EU rules and ignores this table."""

    country = models.CharField(
        _("country"), max_length=2, unique=True, help_text=_("ISO 3166 code, e.g. CN.")
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=RateKind.choices, default=RateKind.STANDARD
    )

    class Meta:
        verbose_name = _("country where the seller charges tax")
        verbose_name_plural = _("countries where the seller charges tax")
        ordering = ["country"]

    def __str__(self) -> str:
        return self.country


class StatementDocument(models.Model):
    """The PDF of an account statement in one language, rendered by a worker and stored.

    `input_hash` is the statement's digest when it was asked for (its lines, balances and
    aging, the template's version): the page offers the stored file while it still matches.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Being prepared")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="statement_documents",
        verbose_name=_("account"),
    )
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    language = models.CharField(_("language"), max_length=10)
    input_hash = models.CharField(_("input hash"), max_length=64)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PENDING
    )
    file = models.FileField(_("file"), max_length=255, blank=True)
    pages = models.PositiveIntegerField(_("pages"), default=0)
    size = models.PositiveIntegerField(_("size (bytes)"), default=0)
    requested_by = models.ForeignKey(
        "accounts.User",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    rendered_at = models.DateTimeField(_("rendered"), null=True, blank=True)

    class Meta:
        verbose_name = _("statement document")
        verbose_name_plural = _("statement documents")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "input_hash"], name="statement_document_per_digest"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id} {self.currency} {self.period_start}–{self.period_end}"
