"""An automatic charge of an amount the processor does not take (below Stripe's minimum of
0.50 USD, say) is refused before any call, on both ways a charge leaves: one at a time
(`autocharge_attempt`) and with the chunk's others on the charge threads
(`autocharges_start_together`, then `autocharge_send`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connections

from accounts.models import Account
from billing.models import AutoCharge
from billing.run import billing_run_chunk
from invoices.models import Invoice, RecurringCharge
from payments.gateways.base import AmountProblem, AmountProblemKind, DeclineCategory
from payments.gateways.sandbox import SandboxGateway
from payments.models import Payment
from sandbox_gateway.models import SandboxRequest
from tests.billing.clock import at

DAY = date(2026, 10, 1)
MINIMUM = Decimal("0.50")


@pytest.fixture
def with_a_minimum(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox takes any amount; here it has a minimum, as Stripe's adapter reports one
    (`StripeGateway.amount_problem`, tested against stripe-mock in tests/payments)."""

    def amount_problem(
        self: SandboxGateway, amount: Decimal, currency: str
    ) -> AmountProblem | None:
        if amount < MINIMUM:
            return AmountProblem(AmountProblemKind.BELOW_MINIMUM, minimum=MINIMUM)
        return None

    monkeypatch.setattr(SandboxGateway, "amount_problem", amount_problem)


@pytest.fixture
def small(account: Account) -> RecurringCharge:
    return RecurringCharge.objects.create(
        account=account, description="Backup", unit_price=Decimal("0.30"), starts_on=DAY
    )


def _refused(account: Account) -> None:
    invoice = Invoice.objects.get(account=account)
    payment = Payment.objects.get(account=account)
    assert (payment.state, payment.decline_code) == (
        Payment.State.DECLINED,
        DeclineCategory.BELOW_MINIMUM,
    )
    assert "does not take 0.30 USD" in payment.failure_message
    assert invoice.state == Invoice.State.OPEN and invoice.balance == Decimal("0.30")
    assert invoice.autocharge.state != AutoCharge.State.SUCCEEDED
    # Refused here: the processor never heard of it.
    assert not SandboxRequest.objects.filter(kind="charge").exists()


def test_one_at_a_time(db, account: Account, small, monthly, with_a_minimum) -> None:
    monthly("4242424242424242")
    # Inside the test's transaction the charge threads are not used: one at a time.
    done = billing_run_chunk(account_ids=[account.pk], day=DAY, now=at(DAY))
    assert done.failed == []
    _refused(account)


@pytest.mark.django_db(transaction=True)
def test_with_the_chunk_on_the_charge_threads(
    settings, account: Account, small, monthly, with_a_minimum
) -> None:
    settings.BILLING_CHARGE_CONCURRENCY = 3
    monthly("4242424242424242")
    try:
        done = billing_run_chunk(account_ids=[account.pk], day=DAY, now=at(DAY))
    finally:
        connections.close_all()
    assert done.failed == []
    _refused(account)
