from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Account, User
from invoices.models import RecurringCharge
from payments.cards import payment_method_approve
from payments.models import PaymentMethod


@pytest.fixture
def monthly(account: Account, owner: User, rep: User, add_card) -> Callable[[str], PaymentMethod]:
    """Put a card on file as the account's monthly payment method."""

    def _monthly(number: str) -> PaymentMethod:
        return payment_method_approve(payment_method=add_card(account, owner, number), by=rep)

    return _monthly


@pytest.fixture
def hosting(account: Account) -> RecurringCharge:
    """A server billed on the 1st of each month from 1 October 2026."""
    return RecurringCharge.objects.create(
        account=account,
        description="Virtual Server",
        category="Server",
        quantity=Decimal(1),
        unit_price=Decimal("100.00"),
        starts_on=date(2026, 10, 1),
    )
