"""What the invoices app records in the audit trail."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from accounts.audit import audit_action

INVOICE_ISSUED = audit_action("invoices.invoice.issued", _("Invoice issued"))
