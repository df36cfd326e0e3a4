"""Money: Decimal amounts rounded to their currency's ISO 4217 exponent, in one place.

Every amount the invoices app stores or shows passes through these functions; nothing here
ever adds amounts of two currencies together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import NumberPattern, format_currency
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


@lru_cache(maxsize=32)
def _currency_pattern(locale_name: str) -> tuple[Locale, NumberPattern]:
    locale = Locale.parse(locale_name)
    return locale, locale.currency_formats["standard"]


@dataclass(frozen=True)
class _Affixes:
    """How a locale wraps a currency amount: its prefix and suffix, positive and negative,
    and its digit symbols, read once from Babel (CLDR) and reused for every amount."""

    positive: tuple[str, str]
    negative: tuple[str, str]
    decimal: str
    group: str

    def apply(self, amount: Decimal, places: int) -> str:
        digits = f"{abs(amount):,.{places}f}"
        if self.decimal != "." or self.group != ",":
            digits = digits.replace(",", "\0").replace(".", self.decimal)
            digits = digits.replace("\0", self.group)
        prefix, suffix = self.negative if amount < 0 else self.positive
        return prefix + digits + suffix


@lru_cache(maxsize=128)
def _affixes(locale_name: str, currency: str) -> _Affixes | None:
    locale, pattern = _currency_pattern(locale_name)
    if pattern.grouping != (3, 3):
        return None  # grouping Python's format cannot write (e.g. Indian lakhs)
    symbols = locale.number_symbols.get("latn", locale.number_symbols)
    decimal, group = symbols["decimal"], symbols["group"]
    places = exponent(currency)
    one = "1" + (decimal + "0" * places if places else "")
    positive = pattern.apply(Decimal(1), locale, currency=currency).split(one)
    negative = pattern.apply(Decimal(-1), locale, currency=currency).split(one)
    if len(positive) != 2 or len(negative) != 2:
        return None
    return _Affixes((positive[0], positive[1]), (negative[0], negative[1]), decimal, group)


def format_money(amount: Decimal, currency: str, language: str | None = None) -> str:
    """`amount` as the reader's locale writes it: "$1,234.50", "US$1,234.50", "¥1,235"."""
    locale_name = to_locale(language or get_language() or "en")
    rounded = round_money(amount, currency)
    if rounded.is_zero():
        rounded = abs(rounded)  # never "-$0.00"
    affixes = _affixes(locale_name, currency)
    if affixes is None:
        locale, pattern = _currency_pattern(locale_name)
        formatted: str = pattern.apply(rounded, locale, currency=currency)
        return formatted
    return affixes.apply(rounded, exponent(currency))


def format_unit_price(amount: Decimal, currency: str, language: str | None = None) -> str:
    """A unit price, which may be finer than the currency's unit ("$0.0042")."""
    locale_name = to_locale(language or get_language() or "en")
    places = max(exponent(currency), -int(amount.normalize().as_tuple().exponent))
    affixes = _affixes(locale_name, currency)
    if affixes is None:
        return format_currency(
            amount,
            currency,
            locale=locale_name,
            currency_digits=False,
            format="¤#,##0." + "0" * places if places else "¤#,##0",
        )
    return affixes.apply(amount, places)
