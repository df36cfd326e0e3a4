"""A card gateway adapter that says it moves real money, for the configuration tests only.

The gap it fills: the tests of a production configuration (`check --deploy`, the sandbox
app left out, a gateway loaded by its dotted path) need a card adapter that says it moves
real money without a real processor's keys or its settings checks. It is loaded, never
called.
"""

from __future__ import annotations

from typing import Any, NoReturn


class LiveCardGateway:
    name = "live-test"
    live = True
    card_fields_template = "payments/gateways/sandbox_card_fields.html"
    card_fields_csp = {
        "frame-src": ["https://cards.example.com"],
        "connect-src": ["https://api.cards.example.com"],
    }

    @classmethod
    def from_settings(cls) -> LiveCardGateway:
        return cls()

    def card_fields_context(self) -> dict[str, Any]:
        return {"fields_url": "https://cards.example.com/fields"}

    def __getattr__(self, name: str) -> NoReturn:
        raise AssertionError(f"{name}: the configuration tests never call a gateway")
