"""The sandbox's test cards (shared with the demo, the tests and README) and card checks."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum


class Scenario(StrEnum):
    SUCCEEDS = "succeeds"
    DECLINE_GENERIC = "decline_generic"
    DECLINE_INSUFFICIENT_FUNDS = "decline_insufficient_funds"
    DECLINE_EXPIRED = "decline_expired"
    DECLINE_INCORRECT_CVC = "decline_incorrect_cvc"
    PROCESSING_ERROR = "processing_error"
    CHARGES_DECLINED = "charges_declined"
    TIMEOUT_CHARGED = "timeout_charged"
    TIMEOUT_NOT_CHARGED = "timeout_not_charged"
    NOT_A_TEST_CARD = "not_a_test_card"


TEST_CARDS: dict[str, Scenario] = {
    "4242424242424242": Scenario.SUCCEEDS,
    "5555555555554444": Scenario.SUCCEEDS,
    "378282246310005": Scenario.SUCCEEDS,
    "4000000000000002": Scenario.DECLINE_GENERIC,
    "4000000000009995": Scenario.DECLINE_INSUFFICIENT_FUNDS,
    "4000000000000069": Scenario.DECLINE_EXPIRED,
    "4000000000000127": Scenario.DECLINE_INCORRECT_CVC,
    "4000000000000119": Scenario.PROCESSING_ERROR,
    "4000000000000341": Scenario.CHARGES_DECLINED,
    "4000000000005126": Scenario.TIMEOUT_CHARGED,
    "4000000000005134": Scenario.TIMEOUT_NOT_CHARGED,
}


def digits_only(number: str) -> str:
    """The number's digits, as a processor reads them: ASCII digits, spaces and dashes only;
    anything else (a superscript, a full-width digit, a letter) makes it no number at all."""
    compact = re.sub(r"[\s-]", "", number)
    return compact if re.fullmatch(r"[0-9]+", compact) else ""


def luhn_valid(number: str) -> bool:
    digits = [int(ch) for ch in number]
    if not 12 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def brand_of(number: str) -> str:
    if number.startswith(("34", "37")):
        return "amex"
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number.startswith(("6011", "65")):
        return "discover"
    if number.startswith("62"):
        return "unionpay"
    return "unknown"


# Processors refuse an expiry further away than this (Stripe: 50 years).
MAX_EXPIRY_YEARS = 50


def expiry_valid(month: int, year: int, today: date) -> bool:
    if not 1 <= month <= 12 or year > today.year + MAX_EXPIRY_YEARS:
        return False
    return (year, month) >= (today.year, today.month)


def cvc_valid(cvc: str, brand: str) -> bool:
    return re.fullmatch(r"[0-9]{4}" if brand == "amex" else r"[0-9]{3}", cvc) is not None
