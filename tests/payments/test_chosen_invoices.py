"""Paying the invoices the customer chose: they are paid first, in the order shown, then the
oldest; whatever way the payment takes and however late its answer comes."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, User
from invoices.balances import find_balance_mismatches
from invoices.models import Invoice
from payments.cards import payment_method_approve
from payments.chosen import ChosenInvoiceNotFound, chosen_ids_parse, chosen_invoices_check
from payments.core import new_key, payments_settle
from payments.errors import PaymentError
from payments.models import Payment, PaymentMethod
from payments.one_time import (
    payment_pay_by_card_on_file,
    payment_paypal_capture,
    payment_paypal_start,
)
from sandbox_gateway import paypal as sandbox_paypal
from tests.conftest import IssueFn

D = Decimal
pytestmark = pytest.mark.django_db


def _paid(payment: Payment) -> list[tuple[str, Decimal]]:
    """What the payment paid on which invoice, in the order it was applied."""
    return [
        (link.allocation.invoice.number, link.allocation.amount)
        for link in payment.allocations.select_related("allocation__invoice").order_by("pk")
    ]


@pytest.fixture
def three(account: Account, issue: IssueFn) -> tuple[Invoice, Invoice, Invoice]:
    """An oldest, a middle and a newest open invoice."""
    return (
        issue(account, "100.00", on=date(2026, 9, 1)),
        issue(account, "40.00", on=date(2026, 10, 1)),
        issue(account, "50.00", on=date(2026, 11, 1)),
    )


def test_the_chosen_invoices_are_paid_in_the_order_shown_and_the_oldest_is_left_open(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    oldest, middle, newest = three
    payment = pay_by_card(account, owner, "90.00", invoices=[newest.pk, middle.pk])

    assert payment.state == Payment.State.SUCCEEDED
    assert payment.chosen_invoices == [newest.pk, middle.pk]
    assert _paid(payment) == [(newest.number, D("50.00")), (middle.number, D("40.00"))]
    oldest.refresh_from_db()
    assert (oldest.balance, oldest.state) == (D("100.00"), Invoice.State.OPEN)
    assert find_balance_mismatches() == []


def test_a_partial_amount_goes_to_the_chosen_invoices_in_the_order_shown(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    oldest, middle, newest = three
    payment = pay_by_card(account, owner, "70.00", invoices=[newest.pk, middle.pk])

    assert _paid(payment) == [(newest.number, D("50.00")), (middle.number, D("20.00"))]
    middle.refresh_from_db()
    oldest.refresh_from_db()
    assert (middle.balance, middle.state) == (D("20.00"), Invoice.State.OPEN)
    assert oldest.balance == D("100.00")


def test_an_amount_above_the_chosen_invoices_goes_to_the_oldest_next(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    oldest, middle, newest = three
    payment = pay_by_card(account, owner, "80.00", invoices=[newest.pk])

    assert _paid(payment) == [(newest.number, D("50.00")), (oldest.number, D("30.00"))]
    middle.refresh_from_db()
    assert middle.balance == D("40.00")


def test_an_invoice_paid_while_the_answer_was_lost_is_skipped_and_the_money_goes_oldest_first(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    oldest, _middle, newest = three
    # The gateway's answer is lost (the charge did happen): the payment waits for the settler.
    lost = pay_by_card(account, owner, "50.00", "4000000000005126", invoices=[newest.pk])
    assert lost.state == Payment.State.PROCESSING
    # Meanwhile the same invoice is paid another way.
    other = pay_by_card(account, owner, "50.00", invoices=[newest.pk])
    assert _paid(other) == [(newest.number, D("50.00"))]

    assert payments_settle(now=timezone.now() + timedelta(minutes=5)) == 1

    lost.refresh_from_db()
    assert lost.state == Payment.State.SUCCEEDED
    assert _paid(lost) == [(oldest.number, D("50.00"))]
    assert find_balance_mismatches() == []


def test_the_settler_applies_a_lost_answer_to_the_chosen_invoices(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    _oldest, middle, newest = three
    lost = pay_by_card(account, owner, "90.00", "4000000000005126", invoices=[middle.pk, newest.pk])

    payments_settle(now=timezone.now() + timedelta(minutes=5))

    lost.refresh_from_db()
    assert _paid(lost) == [(middle.number, D("40.00")), (newest.number, D("50.00"))]


def test_invoices_in_different_currencies_are_refused_and_nothing_is_recorded(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    dollars = issue(account, "100.00")
    yuan = issue(account, "700.00", currency="CNY")

    with pytest.raises(PaymentError, match="different currencies"):
        chosen_invoices_check(account=account, ids=[dollars.pk, yuan.pk])
    with pytest.raises(PaymentError, match="not USD"):
        pay_by_card(account, owner, "100.00", invoices=[yuan.pk])
    assert not Payment.objects.exists()
    dollars.refresh_from_db()
    assert dollars.balance == D("100.00")


def test_another_accounts_invoice_a_paid_one_and_a_credit_are_refused(
    account: Account,
    owner: User,
    other_account: Account,
    issue: IssueFn,
    pay_by_card,
) -> None:
    from invoices.services import invoice_issue_credit

    mine = issue(account, "100.00")
    theirs = issue(other_account, "100.00")
    with pytest.raises(ChosenInvoiceNotFound):
        pay_by_card(account, owner, "100.00", invoices=[mine.pk, theirs.pk])
    with pytest.raises(ChosenInvoiceNotFound):
        chosen_invoices_check(account=account, ids=[999_999_999])

    paid = issue(account, "20.00")
    pay_by_card(account, owner, "20.00", invoices=[paid.pk])
    with pytest.raises(PaymentError, match=f"Invoice {paid.number} is already paid"):
        pay_by_card(account, owner, "20.00", invoices=[paid.pk])

    credit = invoice_issue_credit(original=mine, amount=D("10.00"), reason="Goodwill")
    with pytest.raises(PaymentError, match="not a charge"):
        chosen_invoices_check(account=account, ids=[credit.pk])
    assert Payment.objects.count() == 1
    theirs.refresh_from_db()
    assert theirs.balance == D("100.00")


@pytest.mark.parametrize(
    "values",
    [["abc"], ["1;DROP"], ["-3"], ["0"], ["1.5"], ["１"], ["9" * 13], [",".join(["1"] * 2) + ",x"]],
)
def test_garbage_ids_are_refused(values: list[str]) -> None:
    with pytest.raises(PaymentError, match="could not be read"):
        chosen_ids_parse(values)


def test_ids_are_read_in_order_each_once() -> None:
    assert chosen_ids_parse(["7", "3,7", " 5 "]) == [7, 3, 5]
    with pytest.raises(PaymentError, match="at most 100"):
        chosen_ids_parse([",".join(str(pk) for pk in range(1, 102))])


def test_the_saved_card_pays_the_chosen_invoices_and_stays_as_it_was(
    account: Account,
    owner: User,
    approver: User,
    three: tuple[Invoice, Invoice, Invoice],
    add_card,
) -> None:
    oldest, middle, newest = three
    card = payment_method_approve(payment_method=add_card(account, owner), by=approver)
    before = PaymentMethod.objects.filter(pk=card.pk).values().get()

    payment = payment_pay_by_card_on_file(
        account=account,
        by=owner,
        payment_method=card,
        amount=D("90.00"),
        currency="USD",
        key=new_key(),
        invoices=[middle.pk, newest.pk],
    )

    assert (payment.state, payment.method) == (
        Payment.State.SUCCEEDED,
        Payment.Method.CARD_ON_FILE,
    )
    assert _paid(payment) == [(middle.number, D("40.00")), (newest.number, D("50.00"))]
    assert PaymentMethod.objects.filter(pk=card.pk).values().get() == before
    oldest.refresh_from_db()
    assert oldest.balance == D("100.00")


def test_a_new_card_paying_chosen_invoices_is_never_saved(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice], pay_by_card
) -> None:
    _oldest, _middle, newest = three
    pay_by_card(account, owner, "50.00", invoices=[newest.pk])
    assert not PaymentMethod.objects.exists()


def test_paypal_carries_the_chosen_invoices_to_the_capture(
    account: Account, owner: User, three: tuple[Invoice, Invoice, Invoice]
) -> None:
    oldest, _middle, newest = three
    started = payment_paypal_start(
        account=account,
        by=owner,
        amount=D("60.00"),
        currency="USD",
        key=new_key(),
        return_url="http://testserver/payments/paypal/return/",
        cancel_url="http://testserver/payments/paypal/cancel/",
        invoices=[newest.pk],
    )
    sandbox_paypal.decide(started.payment.order_id, approve=True)

    payment = payment_paypal_capture(payment_id=started.payment.pk)

    assert payment.state == Payment.State.SUCCEEDED
    assert _paid(payment) == [(newest.number, D("50.00")), (oldest.number, D("10.00"))]
