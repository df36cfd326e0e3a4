"""What the monthly cycle records in the audit trail."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action

AUTOCHARGE_STARTED = audit_action("billing.autocharge.started", _("Automatic charge started"))
AUTOCHARGE_DECLINED = audit_action("billing.autocharge.declined", _("Automatic charge declined"))
AUTOCHARGE_NO_CARD = audit_action(
    "billing.autocharge.no_card", _("Automatic charge waiting for a usable card")
)
AUTOCHARGE_NEEDS_CONFIRMATION = audit_action(
    "billing.autocharge.needs_confirmation",
    _("Automatic charge waiting for the customer to confirm it with their bank"),
)
AUTOCHARGE_CONFIRMATION_REMINDED = audit_action(
    "billing.autocharge.confirmation_reminded",
    _("Customer reminded to confirm an automatic charge"),
)
LATE_FEE_CHARGED = audit_action("billing.late_fee.charged", _("Late fee charged"))
LATE_FEE_WAIVED = audit_action("billing.late_fee.waived", _("Late fee waived"))
