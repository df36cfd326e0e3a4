"""`check_balances` also holds payments to account: what they applied and refunded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, User
from invoices.services import invoice_apply_payment
from payments.models import Payment
from payments.reconcile import find_payment_mismatches
from tests.conftest import IssueFn

pytestmark = pytest.mark.django_db


def test_payments_that_reconcile_pass(
    account: Account, owner: User, issue: IssueFn, pay_by_card, capsys
) -> None:
    issue(account, "100.00")
    pay_by_card(account, owner, "60.00")
    call_command("check_balances")
    assert "Every balance reconciles." in capsys.readouterr().out


def test_an_amount_applied_from_no_payment_is_caught(account: Account, issue: IssueFn) -> None:
    invoice = issue(account, "100.00")
    with transaction.atomic():
        invoice_apply_payment(invoice=invoice, amount=Decimal("10.00"), currency="USD")

    assert find_payment_mismatches() == [
        f"Allocation {invoice.allocations.get().pk} of 10.000 USD to {invoice.number} "
        "comes from no payment"
    ]
    with pytest.raises(CommandError):
        call_command("check_balances")


def test_a_payment_that_did_not_succeed_but_applied_money_is_caught(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "60.00")
    Payment.objects.filter(pk=payment.pk).update(state=Payment.State.FAILED)
    assert find_payment_mismatches() == [f"Payment {payment.pk} is failed but applied 60.000"]


def test_money_neither_applied_nor_refunded_is_caught_after_an_hour(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "60.00")
    Payment.objects.filter(pk=payment.pk).update(amount=Decimal("80.00"))
    assert find_payment_mismatches() == []  # the refund of the rest may still be on its way

    Payment.objects.filter(pk=payment.pk).update(completed_at=timezone.now() - timedelta(hours=2))
    assert find_payment_mismatches() == [
        f"Payment {payment.pk} has 20.000 USD neither applied nor refunded"
    ]
