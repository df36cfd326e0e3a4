"""The Stripe adapter's own rules: amounts in Stripe's units, exactly, per currency; the API
version the portal was written against; settings that must be there to go live."""

from __future__ import annotations

from decimal import Decimal

import pytest
import stripe
from django.conf import settings
from django.core.checks import run_checks

from accounts.currencies import CURRENCIES
from payments.gateways.base import AmountProblemKind
from payments.gateways.stripe import StripeGateway, stripe_amount

D = Decimal


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("10.00", "USD", 1000),
        ("0.01", "USD", 1),
        ("1234567.89", "EUR", 123456789),
        ("88.80", "CNY", 8880),
        ("0.30", "GBP", 30),
        ("500", "JPY", 500),
        ("5.120", "BHD", 5120),
        ("5.1", "BHD", 5100),
    ],
)
def test_amounts_go_to_stripe_in_its_units(amount: str, currency: str, minor: int) -> None:
    assert stripe_amount(D(amount), currency) == minor
    assert stripe_amount(D(amount), currency.lower()) == minor


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("10.001", "USD"),
        ("500.5", "JPY"),
        ("5.125", "BHD"),  # Stripe takes three-decimal currencies in steps of 0.010
        ("5.1201", "BHD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
    ],
)
def test_an_amount_stripe_cannot_take_exactly_is_never_rounded(amount: str, currency: str) -> None:
    with pytest.raises(ValueError):
        stripe_amount(D(amount), currency)


def test_every_currency_of_the_portal_can_go_to_stripe() -> None:
    for code, (_name, places) in CURRENCIES.items():
        smallest = D(1).scaleb(-places)
        assert stripe_amount(smallest * 10, code) > 0


@pytest.fixture
def gateway() -> StripeGateway:
    return StripeGateway(
        secret_key="sk_test_x",
        publishable_key="pk_test_x",
        webhook_secret="whsec_x",
        api_base="https://api.stripe.com",
        js_url="https://js.stripe.com/v3/",
        api_version=settings.STRIPE_API_VERSION,
        timeout=5,
    )


def test_amounts_below_stripes_minimum_are_told_before_any_call(gateway: StripeGateway) -> None:
    problem = gateway.amount_problem(D("0.49"), "USD")
    assert problem is not None and problem.kind == AmountProblemKind.BELOW_MINIMUM
    assert problem.minimum == D("0.50")
    assert gateway.amount_problem(D("0.50"), "USD") is None
    assert gateway.amount_problem(D("49"), "JPY") is not None
    assert gateway.amount_problem(D("50"), "JPY") is None
    assert gateway.amount_problem(D("0.29"), "GBP") is not None
    # No fixed minimum for BHD or CNY: Stripe's depends on the settlement currency.
    assert gateway.amount_problem(D("0.010"), "BHD") is None
    unrepresentable = gateway.amount_problem(D("5.125"), "BHD")
    assert unrepresentable is not None
    assert unrepresentable.kind == AmountProblemKind.NOT_REPRESENTABLE


def test_the_portal_pins_the_api_version_of_its_stripe_library(gateway: StripeGateway) -> None:
    """stripe-python is written against one API version: the portal asks for that one, so
    that an upgrade of the account's default version in Stripe's dashboard changes nothing
    here, and an upgrade of the library is a change made on purpose (with this test)."""
    assert stripe.api_version == settings.STRIPE_API_VERSION


def test_test_keys_are_not_live_and_live_keys_are(gateway: StripeGateway) -> None:
    assert not gateway.live
    live = StripeGateway(
        secret_key="sk_live_x",
        publishable_key="pk_live_x",
        webhook_secret="whsec_x",
        api_base="https://api.stripe.com",
        js_url="https://js.stripe.com/v3/",
        api_version=settings.STRIPE_API_VERSION,
        timeout=5,
    )
    assert live.live


def test_the_card_fields_may_load_only_from_stripe(gateway: StripeGateway) -> None:
    assert gateway.card_fields_csp == {
        "script-src": ["https://js.stripe.com"],
        "frame-src": ["https://js.stripe.com", "https://hooks.stripe.com"],
        "connect-src": ["https://api.stripe.com"],
    }


def _problems() -> set[str]:
    return {message.id for message in run_checks(tags=["payments"]) if message.id}


def test_stripe_without_its_webhook_secret_is_refused_by_the_checks(settings) -> None:
    settings.CARD_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_x"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert "payments.E002" in _problems()
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    assert "payments.E002" not in _problems()


def test_keys_of_different_modes_are_refused_by_the_checks(settings) -> None:
    settings.CARD_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_live_x"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_x"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_x"
    assert "payments.E003" in _problems()
    settings.STRIPE_PUBLISHABLE_KEY = "pk_live_x"
    assert "payments.E003" not in _problems()
