"""What the invoices app records in the audit trail."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action

from .models import Invoice
from .money import format_money


def _invoice_detail(data: Mapping[str, Any]) -> str:
    """The number, type and total of the invoice issued (what the entry keeps of it)."""
    kind = data.get("type")
    parts = [
        str(data["number"]),
        str(Invoice.Type(kind).label) if kind in Invoice.Type.values else "",
        format_money(Decimal(data["total"]), data["currency"]),
    ]
    return " · ".join(part for part in parts if part)


INVOICE_ISSUED = audit_action(
    "invoices.invoice.issued", _("Invoice issued"), detail=_invoice_detail
)
