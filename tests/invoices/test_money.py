from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation

from invoices.money import (
    format_money,
    has_valid_precision,
    round_money,
    sum_money,
    totals_by_currency,
)

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("10.005", "USD", "10.01"),
        ("10.004", "USD", "10.00"),
        ("1234.5", "JPY", "1235"),
        ("1234.4", "JPY", "1234"),
        ("1.0005", "BHD", "1.001"),
        ("-0.125", "USD", "-0.13"),
    ],
)
def test_amounts_round_half_up_to_the_currency_exponent(
    amount: str, currency: str, expected: str
) -> None:
    rounded = round_money(D(amount), currency)
    assert rounded == D(expected)
    assert rounded.as_tuple().exponent == D(expected).as_tuple().exponent


@pytest.mark.parametrize(
    ("amount", "currency", "valid"),
    [
        ("1.00", "USD", True),
        ("1.001", "USD", False),
        ("5", "JPY", True),
        ("5.5", "JPY", False),
        ("1.001", "BHD", True),
        ("1.0001", "BHD", False),
    ],
)
def test_precision_follows_the_currency(amount: str, currency: str, valid: bool) -> None:
    assert has_valid_precision(D(amount), currency) is valid


def test_sums_are_exact_where_floats_are_not() -> None:
    assert sum_money([D("0.1")] * 3, "USD") == D("0.30")
    assert sum(0.1 for _ in range(3)) != 0.3  # what Decimal avoids


def test_totals_are_kept_per_currency_and_never_added_across() -> None:
    totals = totals_by_currency([("USD", D("10.00")), ("CNY", D("5.00")), ("USD", D("2.50"))])
    assert totals == {"CNY": D("5.00"), "USD": D("12.50")}


def test_amounts_are_written_for_the_readers_locale() -> None:
    assert format_money(D("1234.5"), "USD", "en") == "$1,234.50"
    assert format_money(D("1234.5"), "JPY", "en") == "¥1,235"
    assert format_money(D("1.5"), "BHD", "en") == "BHD1.500"
    with translation.override("zh-hans"):
        assert format_money(D("1234.5"), "CNY") == "¥1,234.50"
        assert format_money(D("1234.5"), "USD") == "US$1,234.50"


@pytest.mark.parametrize("language", ["en", "zh-hans", "de", "fr", "hi"])
@pytest.mark.parametrize("currency", ["USD", "CNY", "JPY", "BHD", "EUR"])
def test_the_fast_formatter_writes_exactly_what_babel_writes(language: str, currency: str) -> None:
    from babel.numbers import format_currency
    from django.utils.translation import to_locale

    for text in ("0", "1", "-1", "0.5", "12.345", "-1234.5", "1234567.891", "-98765.4321"):
        amount = round_money(D(text), currency)
        expected = format_currency(amount, currency, locale=to_locale(language))
        assert format_money(amount, currency, language) == expected
    # A negative amount that rounds to zero is zero, not "-$0.00".
    assert format_money(D("-0.0001"), currency, language) == format_money(D(0), currency, language)
