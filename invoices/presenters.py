"""Item rows ready to print: every amount, quantity and date formatted once, in Python.

A 2,000-item invoice would otherwise cost tens of thousands of template lookups and filter
calls; the page, the htmx fragment and the PDF all print these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format

from .models import Invoice, InvoiceItem, VatCategory
from .money import format_money, format_unit_price
from .selectors import ItemRow


@dataclass
class Line:
    pk: int
    position: int
    description: str
    category: str
    resource: str
    period: str
    quantity: str
    unit_price: str
    amount: str
    vat: str = ""
    has_details: bool = False
    details: list[Line] = field(default_factory=list)


def plain_number(value: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 10, 0.05, 1843.5."""
    return format(value.normalize(), "f")


def _period(start: date | None, end: date | None) -> str:
    if start is None:
        return ""
    first = date_format(start, "DATE_FORMAT")
    return f"{first} – {date_format(end, 'DATE_FORMAT')}" if end else first


def _line(item: InvoiceItem, currency: str) -> Line:
    return Line(
        pk=item.pk,
        position=item.position,
        description=item.description,
        category=item.category,
        resource=item.resource_label,
        period=_period(item.period_start, item.period_end),
        quantity=plain_number(item.quantity),
        unit_price=format_unit_price(item.unit_price, currency),
        amount=format_money(item.amount, currency),
        vat=vat_label(item.vat_category, item.vat_rate),
    )


def vat_label(category: str, rate: Decimal) -> str:
    """A line's VAT treatment as printed: its category, and its rate where it has one
    ("Standard rate 20%", "Reverse charge 0%", "Outside the scope of VAT")."""
    label = str(VatCategory(category).label)
    if category == VatCategory.OUTSIDE_SCOPE:
        return label
    return f"{label} {format(rate.normalize() + 0, 'f')}%"


def present_rows(
    invoice: Invoice, rows: list[ItemRow], expanded: int | bool | None = True
) -> list[Line]:
    """The invoice's items as printable lines, in the active language, with the details of
    every item (`expanded=True`), of none (`False`) or of the one item whose pk is given."""
    lines = []
    for row in rows:
        line = _line(row.item, invoice.currency)
        line.has_details = bool(row.details)
        if expanded is True or expanded == row.item.pk:
            line.details = [_line(detail, invoice.currency) for detail in row.details]
        lines.append(line)
    return lines
