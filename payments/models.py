"""Cards on file and every call made to a gateway about them."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, PostalAddress, User

# Why the gateway refused a card, in plain words; fraud-class declines are only "declined".
DECLINE_REASONS = {
    "generic": _("Your card was declined."),
    "fraud": _("Your card was declined."),
    "insufficient_funds": _("Your card has insufficient funds."),
    "expired_card": _("Your card has expired."),
    "incorrect_cvc": _("Your card's security code is incorrect."),
    "processing_error": _("The card could not be verified because of a processing error."),
    "not_verifiable": _("The card could not be verified right now. Please add it again later."),
}


class PaymentMethod(PostalAddress):
    """A card on file: its token and what the gateway told about it, never its number; the
    address is the card's billing address."""

    class State(models.TextChoices):
        VERIFYING = "verifying", _("Verifying")
        AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
        VERIFIED = "verified", _("Verified")
        REJECTED = "rejected", _("Rejected")
        EXPIRED = "expired", _("Expired")
        REMOVED = "removed", _("Removed")

    # Still waiting for a decision: what the customer sees as "Pending".
    PENDING_STATES: ClassVar[tuple[str, ...]] = (State.VERIFYING, State.AWAITING_APPROVAL)

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="payment_methods",
        verbose_name=_("account"),
    )
    gateway = models.CharField(_("gateway"), max_length=32)
    token = models.CharField(_("single-use token"), max_length=128, unique=True)
    credential = models.CharField(_("gateway credential"), max_length=128, blank=True)
    brand = models.CharField(_("brand"), max_length=20, blank=True)
    last4 = models.CharField(_("last four digits"), max_length=4, blank=True)
    exp_month = models.PositiveSmallIntegerField(_("expiry month"), null=True, blank=True)
    exp_year = models.PositiveSmallIntegerField(_("expiry year"), null=True, blank=True)
    holder = models.CharField(_("card holder"), max_length=100, blank=True)

    contact_email = models.EmailField(
        _("contact email"), help_text=_("Where the status changes of this card are emailed.")
    )

    state = models.CharField(
        _("state"), max_length=20, choices=State.choices, default=State.VERIFYING
    )
    is_monthly = models.BooleanField(_("monthly payment method"), default=False)
    verification_result = models.CharField(_("gateway verification"), max_length=255, blank=True)
    rejection_reason = models.CharField(_("reason"), max_length=255, blank=True)
    decline_code = models.CharField(_("gateway decline"), max_length=32, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("added by")
    )
    created_ip = models.GenericIPAddressField(_("added from"), null=True, blank=True)
    created_at = models.DateTimeField(_("added"), auto_now_add=True, db_index=True)
    awaiting_since = models.DateTimeField(_("awaiting approval since"), null=True, blank=True)
    decided_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)
    promise_breached_at = models.DateTimeField(_("24-hour promise missed"), null=True, blank=True)
    expiry_warned_at = models.DateTimeField(_("expiry warning sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment method")
        verbose_name_plural = _("payment methods")
        ordering = ["created_at", "pk"]
        permissions = [("approve_paymentmethod", _("Can approve or reject cards"))]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(is_monthly=True),
                name="payment_method_one_monthly_per_account",
            ),
            models.CheckConstraint(
                condition=models.Q(is_monthly=False) | models.Q(state="verified"),
                name="payment_method_monthly_is_verified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brand_label} •••• {self.last4}" if self.last4 else str(_("Card"))

    @property
    def brand_label(self) -> str:
        return {
            "visa": "Visa",
            "mastercard": "Mastercard",
            "amex": "American Express",
            "discover": "Discover",
            "unionpay": "UnionPay",
        }.get(self.brand, self.brand.title())

    @property
    def reason(self) -> str:
        """Why the card was rejected, in the active language."""
        if self.decline_code:
            return str(DECLINE_REASONS.get(self.decline_code, DECLINE_REASONS["generic"]))
        return self.rejection_reason

    @property
    def is_pending(self) -> bool:
        return self.state in self.PENDING_STATES

    @property
    def expires_on(self) -> date | None:
        """The first day after the card's expiry month."""
        if not self.exp_month or not self.exp_year:
            return None
        if self.exp_month == 12:
            return date(self.exp_year + 1, 1, 1)
        return date(self.exp_year, self.exp_month + 1, 1)


class GatewayAttempt(models.Model):
    """One call to a gateway, recorded (and committed) before it is made.

    It ends succeeded, pending, declined, failed (never reached the gateway, or the gateway
    refused to process it) or unknown (no answer: the money may or may not have moved); an
    unknown attempt is settled by looking it up, never by calling again.
    """

    class Kind(models.TextChoices):
        VERIFY = "verify", _("Verify card")
        CHARGE = "charge", _("Charge")
        REFUND = "refund", _("Refund")

    class Status(models.TextChoices):
        STARTED = "started", _("Started")
        SUCCEEDED = "succeeded", _("Succeeded")
        PENDING = "pending", _("Pending")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Unknown")

    idempotency_key = models.CharField(_("idempotency key"), max_length=200, unique=True)
    gateway = models.CharField(_("gateway"), max_length=32)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.STARTED
    )
    payment_method = models.ForeignKey(
        PaymentMethod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attempts",
        verbose_name=_("payment method"),
    )
    reference = models.CharField(_("gateway reference"), max_length=128, blank=True)
    decline = models.CharField(_("decline"), max_length=32, blank=True)
    message = models.CharField(_("message"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("gateway attempt")
        verbose_name_plural = _("gateway attempts")
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.idempotency_key} {self.status}"
