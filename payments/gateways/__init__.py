"""Which card gateway runs is configuration (`CARD_GATEWAY`); only services ask for it."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .base import CardGateway
from .sandbox import SandboxGateway


@cache
def card_gateway() -> CardGateway:
    if settings.CARD_GATEWAY == "sandbox":
        return SandboxGateway()
    raise ImproperlyConfigured(f"Unknown CARD_GATEWAY {settings.CARD_GATEWAY!r}.")
