from __future__ import annotations

from decimal import Decimal

from django import template

from invoices.money import format_money, format_unit_price

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """{{ invoice.total|money:invoice.currency }} in the reader's locale."""
    if amount is None:
        return ""
    return format_money(amount, currency)


@register.filter
def unit_price(amount: Decimal | None, currency: str) -> str:
    """{{ item.unit_price|unit_price:invoice.currency }}: as fine as the price is."""
    if amount is None:
        return ""
    return format_unit_price(amount, currency)
