"""What the monthly cycle records in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action
from invoices.money import format_money
from payments.models import CHARGE_DECLINE_REASONS, DECLINE_REASONS


def _when(value: str) -> str:
    return formats.date_format(timezone.localtime(datetime.fromisoformat(value)), "DATETIME_FORMAT")


def _charge_detail(data: Mapping[str, Any]) -> str:
    """The invoice charged, the amount, which try this is, why it was declined, when next."""
    parts = []
    if data.get("invoice"):
        parts.append(gettext("Invoice %(number)s") % {"number": data["invoice"]})
    if data.get("currency") and data.get("amount"):
        parts.append(format_money(Decimal(data["amount"]), data["currency"]))
    if data.get("attempt", 1) > 1:
        parts.append(gettext("retry %(number)s") % {"number": data["attempt"] - 1})
    if data.get("decline"):
        reasons: Mapping[str, Any] = CHARGE_DECLINE_REASONS
        parts.append(str(reasons.get(data["decline"], DECLINE_REASONS["generic"])))
    if data.get("retry_at"):
        parts.append(gettext("next try %(when)s") % {"when": _when(data["retry_at"])})
    elif data.get("until"):
        parts.append(gettext("to confirm by %(when)s") % {"when": _when(data["until"])})
    return " · ".join(parts)


def _late_fee_detail(data: Mapping[str, Any]) -> str:
    if not data.get("invoice"):
        return ""
    return gettext("For invoice %(number)s") % {"number": data["invoice"]}


AUTOCHARGE_STARTED = audit_action(
    "billing.autocharge.started", _("Automatic charge started"), detail=_charge_detail
)
AUTOCHARGE_DECLINED = audit_action(
    "billing.autocharge.declined", _("Automatic charge declined"), detail=_charge_detail
)
AUTOCHARGE_RETRY_SCHEDULED = audit_action(
    "billing.autocharge.retry_scheduled",
    _("Automatic charge not processed by the card processor, to be tried again"),
    detail=_charge_detail,
)
AUTOCHARGE_NO_CARD = audit_action(
    "billing.autocharge.no_card",
    _("Automatic charge waiting for a usable card"),
    detail=_charge_detail,
)
AUTOCHARGE_NEEDS_CONFIRMATION = audit_action(
    "billing.autocharge.needs_confirmation",
    _("Automatic charge waiting for the customer to confirm it with their bank"),
    detail=_charge_detail,
)
AUTOCHARGE_CONFIRMATION_REMINDED = audit_action(
    "billing.autocharge.confirmation_reminded",
    _("Customer reminded to confirm an automatic charge"),
)
LATE_FEE_CHARGED = audit_action(
    "billing.late_fee.charged", _("Late fee charged"), detail=_late_fee_detail
)
LATE_FEE_WAIVED = audit_action("billing.late_fee.waived", _("Late fee waived"))
