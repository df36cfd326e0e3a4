from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, User
from payments.checkout import new_key, payment_pay_by_card
from payments.models import Payment, PaymentMethod
from payments.services import BillingAddress, payment_method_add, payment_method_verify
from sandbox_gateway.processor import tokenize

TokenFn = Callable[..., str]


@pytest.fixture
def card_token(db: None) -> TokenFn:
    """A single-use token from the sandbox processor, as its card fields would make one."""

    def _token(number: str = "4242424242424242", cvc: str = "123") -> str:
        today = timezone.localdate()
        card, errors = tokenize(
            number=number,
            exp_month="12",
            exp_year=str(today.year + 2),
            cvc=cvc,
            holder="Wang Xiaoming",
            today=today,
        )
        assert card is not None, errors
        return card.token

    return _token


@pytest.fixture
def add_card(card_token: TokenFn) -> Callable[..., PaymentMethod]:
    """Add a card through the service and run the gateway's verification, as the worker would."""

    def _add(account: Account, user: User, number: str = "4242424242424242") -> PaymentMethod:
        method = payment_method_add(
            account=account,
            by=user,
            token=card_token(number),
            address=BillingAddress.of_account(account),
            contact_email="cards@example.com",
        )
        return payment_method_verify(method.pk)

    return _add


@pytest.fixture
def pay_by_card(card_token: TokenFn) -> Callable[..., Payment]:
    """Pay once by card through the service, as the Payments page does: a new single-use
    token and a new form key unless the test gives its own."""

    def _pay(
        account: Account,
        user: User,
        amount: str,
        number: str = "4242424242424242",
        *,
        currency: str | None = None,
        token: str | None = None,
        key: str | None = None,
    ) -> Payment:
        return payment_pay_by_card(
            account=account,
            by=user,
            token=token or card_token(number),
            amount=Decimal(amount),
            currency=currency or account.currency,
            key=key or new_key(),
            address=BillingAddress.of_account(account),
        )

    return _pay
