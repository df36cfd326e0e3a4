"""Settings that fail to parse name their variable (portal.environment.Env)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.environment import Env


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Env:
    reader = Env()
    monkeypatch.setattr(reader, "ENVIRON", {})
    return reader


def _set(env: Env, **values: str) -> None:
    env.ENVIRON.update(values)  # type: ignore[attr-defined]


def test_a_word_for_a_whole_number_names_the_variable(env: Env) -> None:
    _set(env, AXES_FAILURE_LIMIT="many")
    with pytest.raises(ImproperlyConfigured, match=r"AXES_FAILURE_LIMIT='many' .* whole number"):
        env.int("AXES_FAILURE_LIMIT", default=5)


def test_a_bad_decimal_names_the_variable(env: Env) -> None:
    _set(env, LATE_FEE_PERCENT="one and a half")
    with pytest.raises(ImproperlyConfigured, match=r"LATE_FEE_PERCENT=.* decimal number"):
        env.decimal("LATE_FEE_PERCENT", default=Decimal("1.5"))


def test_a_decimal_must_be_finite(env: Env) -> None:
    _set(env, LATE_FEE_PERCENT="NaN")
    with pytest.raises(ImproperlyConfigured, match="LATE_FEE_PERCENT"):
        env.decimal("LATE_FEE_PERCENT", default=Decimal("1.5"))


def test_a_decimal_is_read_exactly(env: Env) -> None:
    _set(env, LATE_FEE_PERCENT="1.10")
    assert env.decimal("LATE_FEE_PERCENT", default=Decimal(0)) == Decimal("1.10")
    assert env.decimal("UNSET", default=Decimal("2.5")) == Decimal("2.5")


def test_a_bad_list_item_names_the_variable(env: Env) -> None:
    _set(env, DUNNING_RETRY_DAYS="1,three,7")
    with pytest.raises(ImproperlyConfigured, match=r"DUNNING_RETRY_DAYS='1,three,7'"):
        env.list("DUNNING_RETRY_DAYS", cast=int, default=[1, 3, 7])


def test_an_unclear_switch_is_refused_rather_than_read_as_off(env: Env) -> None:
    _set(env, SECURE_COOKIES="maybe")
    with pytest.raises(ImproperlyConfigured, match=r"SECURE_COOKIES='maybe' .* on or off"):
        env.bool("SECURE_COOKIES", default=True)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("yes", True), ("on", True), ("0", False), ("off", False)]
)
def test_switches_take_the_usual_words(env: Env, value: str, expected: bool) -> None:
    _set(env, DEBUG=value)
    assert env.bool("DEBUG", default=not expected) is expected


def test_amounts_per_currency(env: Env) -> None:
    _set(env, LATE_FEE_FIXED="usd=5.00,JPY=700")
    assert env.decimal_dict("LATE_FEE_FIXED") == {"USD": Decimal("5.00"), "JPY": Decimal(700)}
    assert env.decimal_dict("UNSET") == {}
    _set(env, LATE_FEE_FIXED="USD=five")
    with pytest.raises(ImproperlyConfigured, match="LATE_FEE_FIXED='USD=five'"):
        env.decimal_dict("LATE_FEE_FIXED")
