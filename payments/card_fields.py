"""The card gateway's own fields on the portal's card forms, and its confirmation of a charge
the bank asked the customer to confirm. Rendered from the adapter's templates, so safe to
print as they are; the card itself never reaches the portal."""

from __future__ import annotations

from typing import Literal

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from accounts.current import AccountRequest

from .cards import card_setup_start_for
from .gateway import card_gateway
from .gateways.base import BrowserConfirmedCards, BrowserIntent
from .models import Payment

Purpose = Literal["save", "pay"]
# The card fields' language codes (Stripe.js's locales) for the portal's languages.
_LOCALES = {"en": "en", "zh-hans": "zh"}


def _locale() -> str:
    return _LOCALES.get(translation.get_language() or "en", "auto")


def card_fields_html(*, request: AccountRequest, purpose: Purpose) -> str:
    """The fields of the card to save ("save": Add Credit Card) or to pay with once ("pay")."""
    gateway = card_gateway()
    context = {**gateway.card_fields_context(), "saving": purpose == "save", "locale": _locale()}
    if isinstance(gateway, BrowserConfirmedCards):
        if purpose == "save":
            context["setup"] = card_setup_start_for(account=request.account)
        else:
            context["start_url"] = reverse("payments:card_start")
    return render_to_string(gateway.card_fields_template, context, request=request)


def card_confirmation_html(
    *, request: AccountRequest, payment: Payment, intent: BrowserIntent
) -> str:
    """What confirms a charge with the customer's bank, on the page of that charge."""
    gateway = card_gateway()
    if not isinstance(gateway, BrowserConfirmedCards):
        return ""
    context = {
        **gateway.card_fields_context(),
        "payment": payment,
        "intent": intent,
        "locale": _locale(),
    }
    return render_to_string(gateway.confirmation_template, context, request=request)
