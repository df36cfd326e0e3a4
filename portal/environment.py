"""Reading the settings from the environment: django-environ, strict about what it accepts.

A value that does not parse (a word where a number belongs, "maybe" for an on/off switch)
stops the start with an `ImproperlyConfigured` that names the variable, instead of a bare
`ValueError` from deep inside the parser or, for a switch, a silent "off".
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

_FALSE_STRINGS = ("false", "off", "n", "no", "0", "")
_PARSE_ERRORS = (ValueError, TypeError, ArithmeticError)


class Env(environ.Env):
    def get_value(
        self,
        var: str,
        cast: Any = None,
        default: Any = environ.Env.NOTSET,
        parse_default: bool = False,
    ) -> Any:
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except _PARSE_ERRORS as error:
            raise self._invalid(var, error) from error

    @classmethod
    def parse_value(cls, value: Any, cast: Any) -> Any:
        if cast is bool and isinstance(value, str):
            word = value.strip().lower()
            if word not in cls.BOOLEAN_TRUE_STRINGS and word not in _FALSE_STRINGS:
                raise ValueError("expected on or off (1/0, true/false, yes/no)")
        return super().parse_value(value, cast)

    def decimal(self, var: str, *, default: Decimal) -> Decimal:
        """A finite decimal number, such as a percentage ("1.5")."""
        value = self.get_value(var, cast=finite_decimal, default=default)
        return value if isinstance(value, Decimal) else finite_decimal(value)

    def decimal_dict(self, var: str) -> dict[str, Decimal]:
        """Decimal numbers by upper-cased key, such as amounts per currency ("USD=5.00,JPY=700")."""
        pairs: dict[str, str] = self.dict(var, default={})
        try:
            return {key.strip().upper(): finite_decimal(value) for key, value in pairs.items()}
        except _PARSE_ERRORS as error:
            raise self._invalid(var, error) from error

    def _invalid(self, var: str, error: Exception) -> ImproperlyConfigured:
        name = f"{self.prefix}{var}"
        return ImproperlyConfigured(
            f"{name}={self.ENVIRON.get(name, '')!r} is not a valid value: {_describe(error)}."
        )


def finite_decimal(value: object) -> Decimal:
    number = Decimal(str(value).strip())
    if not number.is_finite():
        raise ValueError("expected a finite number")
    return number


def _describe(error: Exception) -> str:
    if isinstance(error, InvalidOperation):
        return "expected a decimal number"
    message = str(error)
    if message.startswith("invalid literal for int()"):
        return "expected a whole number"
    if message.startswith("could not convert string to float"):
        return "expected a number"
    return message or type(error).__name__
