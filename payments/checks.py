"""System checks of the payments configuration (Django's check framework)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from .gateways import CARD_ADAPTERS, PAYPAL_ADAPTERS, load_adapter

_SETTINGS = (("CARD_GATEWAY", CARD_ADAPTERS), ("PAYPAL_GATEWAY", PAYPAL_ADAPTERS))


def register() -> None:
    checks.register(check_gateways, "payments")
    checks.register(check_stripe, "payments")
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


def check_stripe(**kwargs: Any) -> list[checks.CheckMessage]:
    """With CARD_GATEWAY=stripe: the webhook endpoint's secret is set (without it every
    webhook is refused), and the secret and publishable keys are of the same mode."""
    if settings.CARD_GATEWAY != "stripe":
        return []
    problems: list[checks.CheckMessage] = []
    if not settings.STRIPE_WEBHOOK_SECRET.startswith("whsec_"):
        problems.append(
            checks.Error(
                "CARD_GATEWAY=stripe needs STRIPE_WEBHOOK_SECRET, the signing secret "
                "(whsec_...) of the portal's webhook endpoint in Stripe.",
                hint="README, Going live with Stripe.",
                id="payments.E002",
            )
        )
    secret_live = settings.STRIPE_SECRET_KEY.startswith(("sk_live_", "rk_live_"))
    publishable_live = settings.STRIPE_PUBLISHABLE_KEY.startswith("pk_live_")
    if secret_live != publishable_live:
        problems.append(
            checks.Error(
                "STRIPE_SECRET_KEY and STRIPE_PUBLISHABLE_KEY are not of the same mode "
                "(one is live, the other a test key): cards saved in the browser would not "
                "be found by the server.",
                id="payments.E003",
            )
        )
    return problems


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
