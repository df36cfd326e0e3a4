"""What the payments app records in the audit trail."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action

# Cards on file.
CARD_ADDED = audit_action("payments.payment_method.added", _("Card added"))
CUSTOMER_CREATED = audit_action(
    "payments.gateway_customer.created", _("Account created at the card processor")
)
CARD_VERIFIED_BY_GATEWAY = audit_action(
    "payments.payment_method.verified_by_gateway", _("Card passed the gateway's check")
)
CARD_DECLINED_BY_GATEWAY = audit_action(
    "payments.payment_method.declined_by_gateway", _("Card declined by the gateway")
)
CARD_NOT_VERIFIABLE = audit_action(
    "payments.payment_method.not_verifiable", _("Card could not be verified")
)
CARD_APPROVED = audit_action("payments.payment_method.approved", _("Card approved"))
CARD_REJECTED = audit_action("payments.payment_method.rejected", _("Card rejected"))
CARD_MADE_MONTHLY = audit_action(
    "payments.payment_method.made_monthly", _("Card made the monthly payment method")
)
CARD_REMOVED = audit_action("payments.payment_method.removed", _("Card removed"))
CARD_ESCALATED = audit_action(
    "payments.payment_method.escalated", _("Undecided card escalated to the representatives")
)
CARD_PROMISE_BREACHED = audit_action(
    "payments.payment_method.breached", _("Card not decided within the promised time")
)
CARD_EXPIRED = audit_action("payments.payment_method.expired", _("Card expired"))
CARD_EXPIRY_WARNED = audit_action(
    "payments.payment_method.expiry_warned", _("Card expiry warning sent")
)

# Payments.
PAYMENT_STARTED = audit_action("payments.payment.started", _("Payment started"))
PAYMENT_PENDING = audit_action("payments.payment.pending", _("Payment pending"))
PAYMENT_REQUIRES_ACTION = audit_action(
    "payments.payment.requires_action", _("Payment waiting for the customer's confirmation")
)
PAYMENT_ABANDONED = audit_action(
    "payments.payment.abandoned", _("Payment not confirmed by the customer, given up")
)
PAYMENT_SUCCEEDED = audit_action("payments.payment.succeeded", _("Payment succeeded"))
PAYMENT_SUCCEEDED_LATE = audit_action(
    "payments.payment.succeeded_late", _("Payment given up as failed went through after all")
)
PAYMENT_DECLINED = audit_action("payments.payment.declined", _("Payment declined"))
PAYMENT_FAILED = audit_action("payments.payment.failed", _("Payment failed"))
PAYMENT_CANCELLED = audit_action("payments.payment.cancelled", _("Payment cancelled"))
PAYMENT_UNAPPLIED = audit_action(
    "payments.payment.unapplied", _("Part of a payment could not be applied")
)

# Refunds.
REFUND_STARTED = audit_action("payments.refund.started", _("Refund started"))
REFUND_PENDING = audit_action("payments.refund.pending", _("Refund pending"))
REFUND_SUCCEEDED = audit_action("payments.refund.succeeded", _("Refund completed"))
REFUND_FAILED = audit_action("payments.refund.failed", _("Refund failed"))
REFUND_UNDOCUMENTED = audit_action(
    "payments.refund.undocumented", _("Refund without a Refund invoice")
)
