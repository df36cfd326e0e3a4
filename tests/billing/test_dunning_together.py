"""The billing run records its charges' successes together (`payments_record_succeeded`),
and dunning answers them together (`payments_succeeded_together`): the automatic charges end
exactly as when each success is recorded on its own (`payment_outcome_recorded`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import dunning
from billing.models import AutoCharge, AutoChargePayment
from invoices.models import Allocation, Invoice
from invoices.services import ItemSpec, invoice_issue_one_time
from payments.gateways.base import GatewayResult, Outcome
from payments.models import Payment, PaymentAllocation

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)


def _issue(account) -> Invoice:
    return invoice_issue_one_time(
        account=account, items=[ItemSpec("Virtual Server", Decimal("40.00"))], currency="USD"
    )


def _apply(payment: Payment, invoice: Invoice, amount: Decimal) -> None:
    allocation = Allocation.objects.create(
        invoice=invoice, source=Allocation.Source.PAYMENT, amount=amount, currency="USD"
    )
    PaymentAllocation.objects.create(payment=payment, allocation=allocation)
    left = invoice.balance - amount
    Invoice.objects.filter(pk=invoice.pk).update(
        balance=left, state=Invoice.State.OPEN if left else Invoice.State.PAID
    )


def _charged(account, card, *, paid: Decimal) -> tuple[AutoCharge, AutoCharge, Payment]:
    """An invoice of 40.00 whose automatic charge is under way, and its payment succeeded,
    applied: `paid` to it, and 40.00 to an older invoice whose charge waits for a retry."""
    older, invoice = _issue(account), _issue(account)
    waiting = AutoCharge.objects.create(
        invoice=older, account=account, state=AutoCharge.State.SCHEDULED, next_attempt_at=NOW
    )
    charging = AutoCharge.objects.create(
        invoice=invoice, account=account, state=AutoCharge.State.CHARGING, attempts=1
    )
    payment = Payment.objects.create(
        account=account,
        key=f"autocharge:{invoice.pk}:1",
        method=Payment.Method.CARD_ON_FILE,
        state=Payment.State.SUCCEEDED,
        amount=paid + Decimal("40.00"),
        currency="USD",
        gateway="sandbox",
        payment_method=card,
        pay_first=invoice,
    )
    AutoChargePayment.objects.create(autocharge=charging, payment=payment)
    _apply(payment, invoice, paid)
    _apply(payment, older, Decimal("40.00"))
    return charging, waiting, payment


def _record(together: bool, payments: list[Payment]) -> None:
    if together:
        dunning.payments_succeeded_together(payments, NOW)
    else:
        result = GatewayResult(outcome=Outcome.SUCCEEDED, reference="ch_1")
        for payment in payments:
            dunning.payment_outcome_recorded(payment, result, NOW)


def _state(charge: AutoCharge) -> tuple[str, datetime | None]:
    charge.refresh_from_db()
    return charge.state, charge.next_attempt_at


@pytest.mark.parametrize("together", [False, True], ids=["each", "together"])
def test_paid_in_full_succeeds_and_the_charges_of_invoices_it_paid_stop(
    together: bool, account, owner, rep, add_card
) -> None:
    from payments.cards import payment_method_approve

    card = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    charging, waiting, payment = _charged(account, card, paid=Decimal("40.00"))
    _record(together, [payment])
    assert _state(charging) == (AutoCharge.State.SUCCEEDED, None)
    assert _state(waiting) == (AutoCharge.State.STOPPED, None)


@pytest.mark.parametrize("together", [False, True], ids=["each", "together"])
def test_paid_in_part_is_charged_again_in_an_hour(
    together: bool, account, owner, rep, add_card
) -> None:
    from payments.cards import payment_method_approve

    card = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    charging, waiting, payment = _charged(account, card, paid=Decimal("10.00"))
    _record(together, [payment])
    assert _state(charging) == (AutoCharge.State.SCHEDULED, NOW + timedelta(hours=1))
    assert _state(waiting) == (AutoCharge.State.STOPPED, None)


def test_together_costs_the_same_statements_for_one_payment_as_for_many(
    account, other_account, owner, stranger, rep, add_card, django_assert_num_queries
) -> None:
    from payments.cards import payment_method_approve

    card = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    other = payment_method_approve(payment_method=add_card(other_account, stranger), by=rep)
    one = [_charged(account, card, paid=Decimal("40.00"))]
    many = [_charged(account, card, paid=Decimal("40.00")) for _ in range(3)]
    many += [_charged(other_account, other, paid=Decimal("10.00")) for _ in range(3)]
    with django_assert_num_queries(5):
        dunning.payments_succeeded_together([payment for *_rest, payment in one], NOW)
    with django_assert_num_queries(6):  # paid in full and in part: one UPDATE for each
        dunning.payments_succeeded_together([payment for *_rest, payment in many], NOW)
