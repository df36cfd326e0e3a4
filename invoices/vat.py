"""The VAT breakdown of an invoice: one group per VAT category and rate (EN 16931 BG-23).

The e-invoice's lines are the top-level items (a detail item carries its parent's category
and rate, and its amount is already in its parent's), so the groups add up top-level items
only. Each group's tax is its taxable amount times its rate, rounded once in the currency's
exponent; the invoice's tax is the sum of the groups' taxes (BR-CO-14, BR-S-08). The
arithmetic is `invoices.tax.vat_breakdown`'s, the one issuing uses for the stored totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from .models import Invoice, InvoiceItem, VatCategory
from .money import round_money
from .tax import vat_breakdown as tax_vat_breakdown

# EN 16931's VAT exemption reason codes (the CEF VATEX list) for the categories that need
# one in the breakdown (BR-AE-10, BR-O-10).
EXEMPTION_CODES = {
    VatCategory.REVERSE_CHARGE: "VATEX-EU-AE",
    VatCategory.OUTSIDE_SCOPE: "VATEX-EU-O",
}


@dataclass(frozen=True)
class VatGroup:
    category: VatCategory
    rate: Decimal
    taxable: Decimal
    tax: Decimal

    @property
    def exemption_code(self) -> str:
        return EXEMPTION_CODES.get(self.category, "")


def vat_groups(items: Iterable[InvoiceItem], currency: str) -> list[VatGroup]:
    """The breakdown of `items` (top-level items; detail items are skipped), ordered by
    category and rate."""
    breakdown = tax_vat_breakdown(
        lines=(
            (item.vat_category, item.vat_rate, item.amount)
            for item in items
            if item.parent_id is None
        ),
        currency=currency,
    )
    groups = [
        VatGroup(
            category=VatCategory(group.category),
            rate=group.rate.normalize() + 0,
            taxable=group.taxable,
            tax=group.tax,
        )
        for group in breakdown.groups
    ]
    return sorted(groups, key=_order)


def _order(group: VatGroup) -> tuple[int, Decimal]:
    return list(VatCategory.values).index(group.category), -group.rate


def vat_breakdown(invoice: Invoice) -> list[VatGroup]:
    """The VAT breakdown of `invoice`, from one query on its top-level items."""
    items = InvoiceItem.objects.filter(invoice=invoice, parent__isnull=True).only(
        "pk", "parent_id", "amount", "vat_category", "vat_rate"
    )
    return vat_groups(items, invoice.currency)


def vat_total(groups: Iterable[VatGroup], currency: str) -> Decimal:
    """The invoice's tax: the sum of its groups' taxes."""
    return round_money(sum((group.tax for group in groups), Decimal(0)), currency)
