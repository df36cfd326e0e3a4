"""Paying as the Payments page does, for tests that are not about the page."""

from __future__ import annotations

from decimal import Decimal

from accounts.models import Account, User
from payments.core import new_key
from payments.one_time import PayPalStart, payment_paypal_start


def start_paypal(account: Account, user: User, amount: str = "100.00") -> PayPalStart:
    """Press "PayPal" for `amount`: the order is created and the customer sent to approve it."""
    return payment_paypal_start(
        account=account,
        by=user,
        amount=Decimal(amount),
        currency=account.currency,
        key=new_key(),
        return_url="http://testserver/payments/paypal/return/",
        cancel_url="http://testserver/payments/paypal/cancel/",
    )
