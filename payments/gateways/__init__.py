"""Which gateway adapters run is configuration: `CARD_GATEWAY` and `PAYPAL_GATEWAY` name one,
by a short name below or by the dotted path of its class.

An adapter is a class of its own module that implements `base.CardGateway` or
`base.PayPalGateway` and builds itself from the settings (`from_settings`); a new processor
is one new module, named in the setting (or added to the short names here). Only the
payments services reach the adapters, through `payments.gateway`.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from .base import CardGateway, PayPalGateway

CARD_ADAPTERS = {
    "sandbox": "payments.gateways.sandbox.SandboxGateway",
    "stripe": "payments.gateways.stripe.StripeGateway",
}
PAYPAL_ADAPTERS = {
    "sandbox": "payments.gateways.sandbox.SandboxPayPal",
    "paypal": "payments.gateways.paypal.PayPalRestGateway",
}


def adapter_path(name: str, short_names: dict[str, str]) -> str:
    """The dotted path a setting's value names."""
    return short_names.get(name, name)


def load_adapter(setting: str, short_names: dict[str, str]) -> Any:
    """The adapter the setting `setting` names, built from the settings."""
    name = getattr(settings, setting)
    path = adapter_path(name, short_names)
    try:
        adapter_class = import_string(path)
    except ImportError as error:
        raise ImproperlyConfigured(
            f"{setting}={name!r} names no gateway adapter: {error}. Use one of "
            f"{', '.join(sorted(short_names))} or the dotted path of an adapter class."
        ) from error
    return adapter_class.from_settings()


@cache
def card_gateway() -> CardGateway:
    adapter: CardGateway = load_adapter("CARD_GATEWAY", CARD_ADAPTERS)
    return adapter


@cache
def paypal_gateway() -> PayPalGateway:
    adapter: PayPalGateway = load_adapter("PAYPAL_GATEWAY", PAYPAL_ADAPTERS)
    return adapter
