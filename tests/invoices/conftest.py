from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounts.models import Account
from invoices.models import RecurringCharge, RecurringChargeDetail


@pytest.fixture
def server_charge(account: Account) -> RecurringCharge:
    """A server billed monthly from 10 October 2026, with three detail items (100.00 in all)."""
    charge = RecurringCharge.objects.create(
        account=account,
        description="Bare Metal Server",
        category="Server",
        resource_label="db01.example.com",
        starts_on=date(2026, 10, 10),
    )
    for position, (text, price) in enumerate(
        [("CPU", "60.00"), ("RAM", "30.00"), ("Disk", "10.00")], 1
    ):
        RecurringChargeDetail.objects.create(
            charge=charge, position=position, description=text, unit_price=Decimal(price)
        )
    return charge
