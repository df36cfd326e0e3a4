"""What a card number looks like when someone types or pastes one, wherever it appears.

One matcher for the guard that refuses card data sent to the portal (`payments.middleware`)
and for the logging filter that masks it in every log line. A card number is 13 to 19
digits that pass the Luhn check and start like an issuer's number, written in any way a
person might: digits of any script (full-width ４２, Arabic-Indic ٤٢, superscripts), in
groups separated by anything that is neither a letter nor a digit (spaces of any kind,
tabs, dots, slashes, dashes, repeated). Letters end a number: "ref A4242" is a reference.

Kept free of Django so that gunicorn's logger (see `portal.gunicorn_config`) can use it.
"""

from __future__ import annotations

import logging
import re
import unicodedata

MIN_DIGITS = 13
MAX_DIGITS = 19

# Characters with a digit value that are not decimal digits (`\d`): superscripts, subscripts,
# circled digits (all below U+1F110). Python's `\w` counts them as word characters, so
# they are not separators.
_OTHER_DIGITS = "".join(
    chr(code)
    for code in range(0x1F110)
    if unicodedata.digit(chr(code), None) is not None and not chr(code).isdecimal()
)
_DIGIT = f"[\\d{re.escape(_OTHER_DIGITS)}]"
# Digit groups joined by separators (anything but a letter or a digit; `_` is a separator).
_CHAIN = re.compile(f"{_DIGIT}+(?:[\\W_]+{_DIGIT}+)*")
_GROUP = re.compile(f"{_DIGIT}+")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _issuer_like(digits: str) -> bool:
    """Whether the number starts as payment cards do (ISO/IEC 7812 issuer numbers in use):
    1 (UATP, 15 digits), 2 to 6 (Mastercard, Mir, Amex, Diners, JCB, Visa, Maestro, Discover,
    UnionPay, RuPay), 81 and 82 (UnionPay, RuPay), 8600 (UzCard), 9792 (Troy), 9860 (Humo).

    No card starts with 0, 7 or the rest of 8 and 9, which is how phone numbers start when
    written with a trunk prefix (0…) or a country code such as +86 or +91: those stay
    allowed even when their digits happen to pass the Luhn check.
    """
    first = digits[0]
    if first == "1":
        return len(digits) == 15
    if first in "23456":
        return True
    return digits.startswith(("81", "82", "8600", "9792", "9860"))


def _is_card_number(digits: str) -> bool:
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and _issuer_like(digits) and _luhn(digits)


def _ascii(group: str) -> str:
    return "".join(str(unicodedata.digit(char)) for char in group)


def card_number_spans(text: str) -> list[tuple[int, int]]:
    """Where card numbers are in `text`: (start, end) of each, not overlapping.

    Any run of whole digit groups can be the number (a card next to a phone number in one
    field is still found), but a group is never split: "42424242424242420" is 17 digits.
    """
    spans: list[tuple[int, int]] = []
    for chain in _CHAIN.finditer(text):
        groups = [
            (chain.start() + m.start(), chain.start() + m.end(), _ascii(m.group()))
            for m in _GROUP.finditer(chain.group())
        ]
        start = 0
        while start < len(groups):
            digits, found = "", None
            for end in range(start, len(groups)):
                digits += groups[end][2]
                if len(digits) > MAX_DIGITS:
                    break
                if _is_card_number(digits):
                    found = end
            if found is None:
                start += 1
                continue
            spans.append((groups[start][0], groups[found][1]))
            start = found + 1
    return spans


def looks_like_card_number(text: str) -> bool:
    """Whether `text` holds a card number, however it is written (see the module's doc)."""
    return bool(card_number_spans(text))


def mask_card_numbers(text: str) -> str:
    """`text` with the digits of every card number in it replaced by `*` but the last four
    (which the portal shows anyway): "5555.5555.5555.4444" becomes "****.****.****.4444"."""
    spans = card_number_spans(text)
    if not spans:
        return text
    pieces, position = [], 0
    for start, end in spans:
        number = text[start:end]
        digit_places = [i for i, char in enumerate(number) if _GROUP.fullmatch(char)]
        keep = set(digit_places[-4:])
        masked = "".join(
            "*" if i in digit_places and i not in keep else char for i, char in enumerate(number)
        )
        pieces += [text[position:start], masked]
        position = end
    pieces.append(text[position:])
    return "".join(pieces)


class CardNumberFilter(logging.Filter):
    """Masks card numbers in a log record before any handler writes it: the message with its
    arguments, the formatted exception and the stack. Install it on every handler (settings
    LOGGING); records are shared, so a handler's filter masks them for the handlers after it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            message = str(record.msg)
        masked = mask_card_numbers(message)
        if masked != message:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_card_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_card_numbers(record.stack_info)
        return True
