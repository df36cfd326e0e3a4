"""Money: Decimal amounts rounded to their currency's ISO 4217 exponent, in one place.

Every amount the invoices app stores or shows passes through these functions; nothing here
ever adds amounts of two currencies together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency
from django.utils.translation import get_language, to_locale

from accounts.currencies import exponent


def quantum(currency: str) -> Decimal:
    """The smallest unit of `currency`: 0.01 for USD, 1 for JPY, 0.001 for BHD."""
    return Decimal(1).scaleb(-exponent(currency))


def round_money(amount: Decimal | int | str, currency: str) -> Decimal:
    """`amount` rounded half-up to the currency's exponent."""
    return Decimal(amount).quantize(quantum(currency), rounding=ROUND_HALF_UP)


def has_valid_precision(amount: Decimal, currency: str) -> bool:
    """Whether `amount` needs no more decimal places than `currency` has."""
    try:
        return amount == amount.quantize(quantum(currency))
    except InvalidOperation:
        return False


def sum_money(amounts: Iterable[Decimal], currency: str) -> Decimal:
    """The exact sum of amounts of one currency, rounded to it."""
    return round_money(sum(amounts, Decimal(0)), currency)


def totals_by_currency(pairs: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Sum (currency, amount) pairs per currency, never across currencies."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in pairs:
        totals[currency] += amount
    return {currency: round_money(total, currency) for currency, total in sorted(totals.items())}


def format_money(amount: Decimal, currency: str, language: str | None = None) -> str:
    """`amount` as the reader's locale writes it: "$1,234.50", "US$1,234.50", "¥1,235"."""
    locale = to_locale(language or get_language() or "en")
    return format_currency(round_money(amount, currency), currency, locale=locale)


def format_unit_price(amount: Decimal, currency: str, language: str | None = None) -> str:
    """A unit price, which may be finer than the currency's unit ("$0.0042")."""
    locale = to_locale(language or get_language() or "en")
    places = max(exponent(currency), -amount.normalize().as_tuple().exponent)  # type: ignore[operator]
    return format_currency(
        amount,
        currency,
        locale=locale,
        currency_digits=False,
        format="¤#,##0." + "0" * exponent(currency) + "#" * (places - exponent(currency))
        if exponent(currency) or places
        else "¤#,##0",
    )
