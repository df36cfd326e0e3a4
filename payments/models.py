"""Cards on file and every call made to a gateway about them."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from accounts.currencies import CURRENCY_CHOICES
from accounts.models import Account, PostalAddress, User
from invoices.models import Allocation, Invoice, MoneyField
from invoices.money import format_money

# Why the gateway refused a card, in plain words; fraud-class declines are only "declined".
DECLINE_REASONS = {
    "generic": _("Your card was declined."),
    "fraud": _("Your card was declined."),
    "insufficient_funds": _("Your card has insufficient funds."),
    "expired_card": _("Your card has expired."),
    "incorrect_cvc": _("Your card's security code is incorrect."),
    "processing_error": _("The card could not be verified because of a processing error."),
    "not_verifiable": _("The card could not be verified right now. Please add it again later."),
    "authentication_failed": _("Your bank's check of the card was not completed."),
}
# The same reasons for a charge rather than a verification.
CHARGE_DECLINE_REASONS = {
    **DECLINE_REASONS,
    "processing_error": _("The card could not be charged because of a processing error."),
    "authentication_failed": _("Your bank's confirmation of the payment was not completed."),
    "authentication_required": _(
        "Your bank asked you to confirm the charge, and it was not confirmed in time."
    ),
    "below_minimum": _("The amount is below the smallest charge the card processor takes."),
    "not_representable": _("The card processor cannot charge this amount exactly."),
}
# Declines that trying the same card again cannot change (and card networks penalise
# retrying): an automatic charge is given up at once, and the customer asked to pay.
FINAL_DECLINES = frozenset({"fraud", "below_minimum", "not_representable"})


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
    # The gateway's fingerprint of the card number: the same card added twice is recognised.
    fingerprint = models.CharField(_("card fingerprint"), max_length=64, blank=True)

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
    payment = models.ForeignKey(
        "Payment",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attempts",
        verbose_name=_("payment"),
    )
    refund = models.ForeignKey(
        "PaymentRefund",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="attempts",
        verbose_name=_("refund"),
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


class Payment(PostalAddress):
    """Money a customer paid (or tried to pay): by a one-time card, PayPal or the card on file.

    Once it succeeded its amount is applied to the account's open invoices, the one it was
    made for first (`pay_first`), then those the customer chose (`chosen_invoices`), then
    oldest first (`PaymentAllocation`), and it is never
    changed again; a refund is a `PaymentRefund`.
    A one-time card leaves nothing here but its brand, last four digits, the gateway's
    fingerprint of it and the gateway's reference; the address is the card's billing
    address (blank for PayPal).
    """

    class Method(models.TextChoices):
        CARD = "card", _("Credit card")
        PAYPAL = "paypal", _("PayPal")
        CARD_ON_FILE = "card_on_file", _("Card on file")

    class State(models.TextChoices):
        # A PayPal order waiting for the customer's approval on PayPal's page.
        CREATED = "created", _("Awaiting approval")
        # The gateway was called and has not answered for sure yet (or the answer was lost).
        PROCESSING = "processing", _("Processing")
        PENDING = "pending", _("Pending")
        # The bank asks the customer to confirm the payment (3-D Secure).
        REQUIRES_ACTION = "requires_action", _("Needs your confirmation")
        SUCCEEDED = "succeeded", _("Paid")
        DECLINED = "declined", _("Declined")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    # Money that may be moving: it counts against the balance a new payment may pay.
    IN_FLIGHT: ClassVar[tuple[str, ...]] = (
        State.PROCESSING,
        State.PENDING,
        State.REQUIRES_ACTION,
    )
    FINAL: ClassVar[tuple[str, ...]] = (
        State.SUCCEEDED,
        State.DECLINED,
        State.FAILED,
        State.CANCELLED,
    )

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="payments", verbose_name=_("account")
    )
    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    method = models.CharField(_("method"), max_length=16, choices=Method.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PROCESSING
    )
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    gateway = models.CharField(_("gateway"), max_length=32)
    reference = models.CharField(_("gateway reference"), max_length=128, blank=True)
    order_id = models.CharField(_("PayPal order"), max_length=64, blank=True, db_index=True)
    payment_method = models.ForeignKey(
        PaymentMethod,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="payments",
        verbose_name=_("card on file"),
    )
    # The invoice the payment was made for, paid first (an automatic charge's invoice).
    pay_first = models.ForeignKey(
        Invoice,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paid first"),
    )
    # The invoices the customer chose to pay ("Pay selected", "Pay this invoice"), their
    # ids in the order shown: paid first, in that order, then oldest first for the rest.
    # Recorded when the payment is created, so that whoever applies it (the request, the
    # settler of a lost answer, PayPal's capture) pays them; checked again then.
    chosen_invoices = models.JSONField(
        _("chosen invoices"), default=list, blank=True, db_default=[]
    )
    brand = models.CharField(_("brand"), max_length=20, blank=True)
    last4 = models.CharField(_("last four digits"), max_length=4, blank=True)
    # The gateway's fingerprint of the card (never its number): the card-testing limits
    # count the different cards tried.
    fingerprint = models.CharField(_("card fingerprint"), max_length=64, blank=True)
    decline_code = models.CharField(_("gateway decline"), max_length=32, blank=True)
    failure_message = models.CharField(_("gateway message"), max_length=255, blank=True)
    # The billing address of a one-time card; PayPal payments have none.
    address_line1 = models.CharField(_("address"), max_length=200, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = CountryField(_("country"), blank=True)
    created_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("paid by"),
    )
    created_ip = models.GenericIPAddressField(_("paid from"), null=True, blank=True)
    created_at = models.DateTimeField(_("started"), auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-created_at", "-pk"]
        permissions = [("refund_payment", _("Can refund payments"))]
        indexes = [models.Index(fields=["account", "-created_at"], name="payment_account_recent")]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_positive"),
        ]

    def __str__(self) -> str:
        amount = format_money(self.amount, self.currency)
        return f"{self.get_method_display()} {amount} ({self.get_state_display()})"

    @property
    def receipt_number(self) -> str:
        """The number printed on the receipt: the payment's own id, formatted like an
        invoice number (a payment that failed has no receipt, so the numbers have gaps)."""
        return f"{settings.RECEIPT_NUMBER_PREFIX}{self.pk:0{settings.INVOICE_NUMBER_DIGITS}d}"

    @property
    def method_label(self) -> str:
        if self.last4:
            brand = PaymentMethod(brand=self.brand).brand_label
            return f"{self.get_method_display()} · {brand} •••• {self.last4}"
        return str(self.get_method_display())

    @property
    def reason(self) -> str:
        """Why the payment did not go through, in the active language."""
        if not self.decline_code:
            return ""
        if self.method == self.Method.PAYPAL:
            return str(_("PayPal declined the payment."))
        return str(CHARGE_DECLINE_REASONS.get(self.decline_code, DECLINE_REASONS["generic"]))

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL

    @property
    def needs_confirmation(self) -> bool:
        return self.state == self.State.REQUIRES_ACTION


class PaymentAllocation(models.Model):
    """How much of a payment went to which invoice: the payments side of an invoices
    `Allocation` (which is what the balances are recomputed from)."""

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="allocations", verbose_name=_("payment")
    )
    allocation = models.OneToOneField(
        Allocation,
        on_delete=models.PROTECT,
        related_name="payment_link",
        verbose_name=_("allocation"),
    )

    class Meta:
        verbose_name = _("payment allocation")
        verbose_name_plural = _("payment allocations")
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.payment_id} -> {self.allocation_id}"


class PaymentRefund(models.Model):
    """Money given back from a succeeded payment, through the gateway that took it; each
    invoice it concerns gets a Refund invoice that refers to it."""

    class State(models.TextChoices):
        PROCESSING = "processing", _("Processing")
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Refunded")
        FAILED = "failed", _("Failed")

    # Refunds that are, or may yet be, money given back.
    COUNTED: ClassVar[tuple[str, ...]] = (State.PROCESSING, State.PENDING, State.SUCCEEDED)

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refunds", verbose_name=_("payment")
    )
    # The refund form's (or the system's) idempotency key: submitting it twice is one refund.
    key = models.CharField(_("idempotency key"), max_length=64, unique=True)
    amount = MoneyField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3, choices=CURRENCY_CHOICES)
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.PROCESSING
    )
    reason = models.CharField(_("reason"), max_length=255)
    reference = models.CharField(_("gateway reference"), max_length=128, blank=True)
    failure_message = models.CharField(_("gateway message"), max_length=255, blank=True)
    documents = models.ManyToManyField(
        Invoice, related_name="payment_refunds", blank=True, verbose_name=_("refund invoices")
    )
    # Empty for refunds the portal makes itself (money a payment could not apply).
    created_by = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("refunded by"),
    )
    created_at = models.DateTimeField(_("started"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_positive"),
        ]

    def __str__(self) -> str:
        return f"{format_money(self.amount, self.currency)} ({self.get_state_display()})"


class WebhookEvent(models.Model):
    """A gateway's webhook, kept by its event id so that a redelivery is recognised."""

    gateway = models.CharField(_("gateway"), max_length=32)
    event_id = models.CharField(_("event id"), max_length=128)
    event_type = models.CharField(_("event type"), max_length=64)
    resource_id = models.CharField(_("resource"), max_length=128, blank=True)
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        constraints = [
            models.UniqueConstraint(fields=["gateway", "event_id"], name="webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_type} {self.event_id}"


class GatewayCustomer(models.Model):
    """An account as a gateway knows it (Stripe's customer): created once, then reused for
    every card the account puts on file."""

    account = models.ForeignKey(
        Account,
        on_delete=models.PROTECT,
        related_name="gateway_customers",
        verbose_name=_("account"),
    )
    gateway = models.CharField(_("gateway"), max_length=32)
    reference = models.CharField(_("gateway customer"), max_length=128)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("gateway customer")
        verbose_name_plural = _("gateway customers")
        constraints = [
            models.UniqueConstraint(fields=["account", "gateway"], name="gateway_customer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.gateway} {self.reference}"
