"""What the payments app records in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action
from invoices.money import format_money

from .models import CHARGE_DECLINE_REASONS, DECLINE_REASONS, Payment, PaymentMethod

# What the Activity page says of an entry's data. Entries keep a card's brand and last four
# digits only: nothing here could show more.


def _card(data: Mapping[str, Any]) -> str:
    if not data.get("last4"):
        return ""
    return f"{PaymentMethod(brand=data.get('brand', '')).brand_label} •••• {data['last4']}"


def _card_detail(data: Mapping[str, Any]) -> str:
    parts = [_card(data)]
    if data.get("reason"):
        parts.append(str(data["reason"]))
    return " · ".join(part for part in parts if part)


def _amount(data: Mapping[str, Any]) -> str:
    if "currency" not in data:
        return ""
    return format_money(Decimal(data["amount"]), data["currency"])


def _payment_detail(data: Mapping[str, Any]) -> str:
    method = data.get("method")
    parts = [
        _amount(data),
        str(Payment.Method(method).label) if method in Payment.Method.values else "",
        _card(data),
    ]
    decline = data.get("decline")
    if decline:
        reasons: Mapping[str, Any] = CHARGE_DECLINE_REASONS
        parts.append(str(reasons.get(decline, DECLINE_REASONS["generic"])))
    return " · ".join(part for part in parts if part)


# Cards on file.
CARD_ADDED = audit_action("payments.payment_method.added", _("Card added"), detail=_card_detail)
CUSTOMER_CREATED = audit_action(
    "payments.gateway_customer.created", _("Account created at the card processor"), activity=False
)
CARD_VERIFIED_BY_GATEWAY = audit_action(
    "payments.payment_method.verified_by_gateway",
    _("Card passed the gateway's check"),
    detail=_card_detail,
)
CARD_DECLINED_BY_GATEWAY = audit_action(
    "payments.payment_method.declined_by_gateway",
    _("Card declined by the gateway"),
    detail=_card_detail,
)
CARD_NOT_VERIFIABLE = audit_action(
    "payments.payment_method.not_verifiable", _("Card could not be verified"), detail=_card_detail
)
CARD_APPROVED = audit_action(
    "payments.payment_method.approved", _("Card approved"), detail=_card_detail
)
CARD_REJECTED = audit_action(
    "payments.payment_method.rejected", _("Card rejected"), detail=_card_detail
)
CARD_MADE_MONTHLY = audit_action(
    "payments.payment_method.made_monthly",
    _("Card made the monthly payment method"),
    detail=_card_detail,
)
CARD_REMOVED = audit_action(
    "payments.payment_method.removed", _("Card removed"), detail=_card_detail
)
CARD_ESCALATED = audit_action(
    "payments.payment_method.escalated",
    _("Undecided card escalated to the representatives"),
    activity=False,
)
CARD_PROMISE_BREACHED = audit_action(
    "payments.payment_method.breached",
    _("Card not decided within the promised time"),
    activity=False,
)
CARD_EXPIRED = audit_action(
    "payments.payment_method.expired", _("Card expired"), detail=_card_detail
)
CARD_EXPIRY_WARNED = audit_action(
    "payments.payment_method.expiry_warned", _("Card expiry warning sent"), detail=_card_detail
)

# Payments.
PAYMENT_STARTED = audit_action(
    "payments.payment.started", _("Payment started"), detail=_payment_detail
)
PAYMENT_PENDING = audit_action("payments.payment.pending", _("Payment pending"))
PAYMENT_REQUIRES_ACTION = audit_action(
    "payments.payment.requires_action", _("Payment waiting for the customer's confirmation")
)
PAYMENT_ABANDONED = audit_action(
    "payments.payment.abandoned", _("Payment not confirmed by the customer, given up")
)
PAYMENT_SUCCEEDED = audit_action(
    "payments.payment.succeeded", _("Payment succeeded"), detail=_payment_detail
)
PAYMENT_SUCCEEDED_LATE = audit_action(
    "payments.payment.succeeded_late", _("Payment given up as failed went through after all")
)
PAYMENT_DECLINED = audit_action(
    "payments.payment.declined", _("Payment declined"), detail=_payment_detail
)
PAYMENT_FAILED = audit_action(
    "payments.payment.failed", _("Payment failed"), detail=_payment_detail
)
PAYMENT_CANCELLED = audit_action("payments.payment.cancelled", _("Payment cancelled"))
PAYMENT_UNAPPLIED = audit_action(
    "payments.payment.unapplied",
    _("Part of a payment could not be applied"),
    detail=_payment_detail,
)

# Refunds.
REFUND_STARTED = audit_action(
    "payments.refund.started", _("Refund started"), detail=_payment_detail
)
REFUND_PENDING = audit_action(
    "payments.refund.pending", _("Refund pending"), detail=_payment_detail
)
REFUND_SUCCEEDED = audit_action(
    "payments.refund.succeeded", _("Refund completed"), detail=_payment_detail
)
REFUND_FAILED = audit_action("payments.refund.failed", _("Refund failed"), detail=_payment_detail)
REFUND_UNDOCUMENTED = audit_action(
    "payments.refund.undocumented", _("Refund without a Refund invoice"), activity=False
)
