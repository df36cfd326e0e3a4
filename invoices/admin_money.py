"""Amounts in the admin as the portal shows them: the currency's decimals (USD 2, JPY 0,
BHD 3, never the database's three) in the reader's locale, with the currency on each amount.

Django shows a DecimalField with the column's decimal places ("1.000"); a column or a
read-only field made by `money_column` shows `format_money` instead, in a `money` span the
admin stylesheet keeps on one line and right-aligns in tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django_stubs_ext import StrPromise

from .money import format_money, format_unit_price


def _follow(obj: Any, path: str) -> Any:
    for name in path.split("__"):
        obj = getattr(obj, name)
    return obj


def money_html(amount: Decimal | None, currency: str, *, unit: bool = False) -> SafeString | str:
    """One amount for an admin page; "—" when there is none."""
    if amount is None:
        return "—"
    shown = format_unit_price(amount, currency) if unit else format_money(amount, currency)
    return format_html('<span class="money">{}</span>', shown)


def money_column(
    field: str,
    description: str | StrPromise,
    *,
    currency: str = "currency",
    unit: bool = False,
    ordering: bool = True,
) -> Callable[[Any, Any], SafeString | str]:
    """A `ModelAdmin` (or inline) display of `field` in the currency at `currency` (a path
    such as "invoice__currency"), for `list_display` and `readonly_fields`:

        total_money = money_column("total", _("total"))
    """

    @admin.display(description=description, ordering=field if ordering else None)
    def show(model_admin: Any, obj: Any) -> SafeString | str:
        return money_html(_follow(obj, field), _follow(obj, currency), unit=unit)

    show.__name__ = f"{field.replace('__', '_')}_money"
    return show


def money_fields(fields: Iterable[str], money: dict[str, str]) -> tuple[str, ...]:
    """`fields` with each money field replaced by its display (`money` maps a field to the
    name of its `money_column`), so a read-only page shows no raw Decimal."""
    return tuple(money.get(name, name) for name in fields)
