"""The monthly cycle's records: the automatic charge of each invoice to the card on file (and
its dunning), the payments it made, and the late fees charged on overdue invoices."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, User
from invoices.models import Invoice, MoneyField
from payments.models import CHARGE_DECLINE_REASONS, DECLINE_REASONS, Payment


class AutoCharge(models.Model):
    """The automatic charge of a New or Recurring invoice to the card on file, and its
    dunning: a declined charge is tried again on a schedule and the contacts are told each
    time, until the invoice is paid (by this charge or otherwise) or the retries run out."""

    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        CHARGING = "charging", _("Charging")
        NO_CARD = "no_card", _("Waiting for a usable card")
        # The bank asked the customer to confirm the charge (3-D Secure); dunning waits.
        NEEDS_CONFIRMATION = "needs_confirmation", _("Waiting for your confirmation")
        SUCCEEDED = "succeeded", _("Paid by the card on file")
        STOPPED = "stopped", _("Paid otherwise")
        FAILED = "failed", _("Retries exhausted")

    # Still trying: the invoice is (or may be) charged to the card on file.
    ACTIVE: ClassVar[tuple[str, ...]] = (
        State.SCHEDULED,
        State.CHARGING,
        State.NO_CARD,
        State.NEEDS_CONFIRMATION,
    )

    invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="autocharge", verbose_name=_("invoice")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="autocharges", verbose_name=_("account")
    )
    state = models.CharField(
        _("state"), max_length=24, choices=State.choices, default=State.SCHEDULED
    )
    attempts = models.PositiveSmallIntegerField(_("charges tried"), default=0)
    declines = models.PositiveSmallIntegerField(_("declines"), default=0)
    processing_errors = models.PositiveSmallIntegerField(_("processing errors"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    first_declined_at = models.DateTimeField(_("first declined"), null=True, blank=True)
    decline_code = models.CharField(_("last decline"), max_length=32, blank=True)
    # While the customer is asked to confirm the charge with their bank.
    confirm_until = models.DateTimeField(_("to be confirmed by"), null=True, blank=True)
    confirmation_reminded_at = models.DateTimeField(
        _("confirmation reminder sent"), null=True, blank=True
    )
    # One payment for each time the card on file was charged for the invoice.
    payments = models.ManyToManyField(
        Payment,
        through="AutoChargePayment",
        related_name="autocharges",
        verbose_name=_("payments"),
    )
    created_at = models.DateTimeField(_("scheduled"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("automatic charge")
        verbose_name_plural = _("automatic charges")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(state__in=["scheduled", "no_card"]),
                name="autocharge_due",
            )
        ]

    def __str__(self) -> str:
        return f"{self.invoice_id} ({self.state})"

    @property
    def is_scheduled(self) -> bool:
        return self.state == self.State.SCHEDULED

    @property
    def is_waiting_for_card(self) -> bool:
        return self.state == self.State.NO_CARD

    @property
    def needs_confirmation(self) -> bool:
        return self.state == self.State.NEEDS_CONFIRMATION

    @property
    def reason(self) -> str:
        if self.decline_code:
            return str(CHARGE_DECLINE_REASONS.get(self.decline_code, DECLINE_REASONS["generic"]))
        return ""


class AutoChargePayment(models.Model):
    """A charge of the card on file for an automatic charge: the payment it made."""

    autocharge = models.ForeignKey(
        AutoCharge,
        on_delete=models.PROTECT,
        related_name="payment_links",
        verbose_name=_("automatic charge"),
    )
    payment = models.OneToOneField(
        Payment,
        on_delete=models.PROTECT,
        related_name="autocharge_link",
        verbose_name=_("payment"),
    )

    class Meta:
        verbose_name = _("automatic charge payment")
        verbose_name_plural = _("automatic charge payments")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.autocharge_id} -> {self.payment_id}"


class LateFee(models.Model):
    """A late fee charged on an invoice still unpaid after its grace period: once per
    invoice and period, as a One-time invoice; staff may waive it with a Credit."""

    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        related_name="late_fees",
        verbose_name=_("overdue invoice"),
    )
    period = models.PositiveSmallIntegerField(_("period"))
    fee_invoice = models.OneToOneField(
        Invoice, on_delete=models.PROTECT, related_name="late_fee_of", verbose_name=_("fee invoice")
    )
    overdue = MoneyField(_("overdue balance"))
    waived_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("waived by"),
    )
    waiver = models.OneToOneField(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="late_fee_waived",
        verbose_name=_("waiver credit"),
    )
    created_at = models.DateTimeField(_("charged"), auto_now_add=True)

    class Meta:
        verbose_name = _("late fee")
        verbose_name_plural = _("late fees")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "period"], name="late_fee_once_per_period")
        ]

    def __str__(self) -> str:
        return f"{self.fee_invoice_id} for {self.invoice_id} ({self.period})"
