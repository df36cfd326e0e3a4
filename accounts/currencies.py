"""The currencies an account may be billed in, with their ISO 4217 minor-unit exponent."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# ISO 4217 code -> (name, number of decimal places of the minor unit).
CURRENCIES: dict[str, tuple[str | Promise, int]] = {
    "USD": (_("US dollar"), 2),
    "CNY": (_("Chinese yuan"), 2),
    "EUR": (_("Euro"), 2),
    "GBP": (_("Pound sterling"), 2),
    "JPY": (_("Japanese yen"), 0),
    "BHD": (_("Bahraini dinar"), 3),
}

CURRENCY_CHOICES = [(code, f"{code} – {name}") for code, (name, _exp) in CURRENCIES.items()]


def exponent(currency: str) -> int:
    """The number of decimal places of `currency`; raises KeyError for an unknown code."""
    return CURRENCIES[currency][1]
