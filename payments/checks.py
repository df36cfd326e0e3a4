"""System checks of the payments configuration (Django's check framework)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .gateways import CARD_ADAPTERS, PAYPAL_ADAPTERS, load_adapter

_SETTINGS = (("CARD_GATEWAY", CARD_ADAPTERS), ("PAYPAL_GATEWAY", PAYPAL_ADAPTERS))


def register() -> None:
    checks.register(check_gateways, "payments")
    checks.register(check_gateways_move_real_money, "payments", deploy=True)


def _load() -> tuple[list[tuple[str, Any]], list[checks.CheckMessage]]:
    adapters: list[tuple[str, Any]] = []
    errors: list[checks.CheckMessage] = []
    for setting, short_names in _SETTINGS:
        try:
            adapters.append((setting, load_adapter(setting, short_names)))
        except Exception as error:
            errors.append(checks.Error(str(error), id="payments.E001"))
    return adapters, errors


def check_gateways(**kwargs: Any) -> list[checks.CheckMessage]:
    """CARD_GATEWAY and PAYPAL_GATEWAY name adapters that load."""
    return _load()[1]


def check_gateways_move_real_money(**kwargs: Any) -> list[checks.CheckMessage]:
    """With DEBUG off, every gateway is a real processor that moves real money."""
    if settings.DEBUG:
        return []
    return [
        checks.Warning(
            f"{setting}={getattr(settings, setting)!r} moves no real money: it is a sandbox "
            "or a processor's test mode, and customers cannot really pay.",
            hint=(
                "Configure the real processors (README, Production); the built-in sandbox is "
                "for the demo and the tests."
            ),
            id="payments.W001",
        )
        for setting, adapter in _load()[0]
        if not adapter.live
    ]
