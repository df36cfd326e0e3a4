"""Which gateways run is configuration (`CARD_GATEWAY`, `PAYPAL_GATEWAY`); only services
ask for them."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import CardGateway, PayPalGateway
from .sandbox import SandboxGateway, SandboxPayPal


@cache
def card_gateway() -> CardGateway:
    if settings.CARD_GATEWAY == "sandbox":
        return SandboxGateway()
    raise ImproperlyConfigured(f"Unknown CARD_GATEWAY {settings.CARD_GATEWAY!r}.")


@cache
def paypal_gateway() -> PayPalGateway:
    if settings.PAYPAL_GATEWAY == "sandbox":
        return SandboxPayPal()
    if settings.PAYPAL_GATEWAY == "paypal":
        from .paypal import PayPalRestGateway

        return PayPalRestGateway(
            api_url=settings.PAYPAL_API_URL,
            client_id=settings.PAYPAL_CLIENT_ID,
            client_secret=settings.PAYPAL_CLIENT_SECRET,
            webhook_id=settings.PAYPAL_WEBHOOK_ID,
            timeout=settings.PAYPAL_TIMEOUT_SECONDS,
        )
    raise ImproperlyConfigured(f"Unknown PAYPAL_GATEWAY {settings.PAYPAL_GATEWAY!r}.")
