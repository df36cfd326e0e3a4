"""One-time payments through the services, against the sandbox gateway, on PostgreSQL."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import Account, OutboundEmail, User
from invoices.balances import find_balance_mismatches
from invoices.models import Invoice
from invoices.services import invoice_issue_credit
from payments.cards import payment_method_approve
from payments.core import new_key, payments_settle
from payments.errors import PaymentError, RefundError, TooManyAttempts
from payments.gateway import card_gateway, paypal_gateway
from payments.models import GatewayAttempt, Payment, PaymentMethod, PaymentRefund
from payments.one_time import (
    payment_paypal_cancel,
    payment_paypal_capture,
    payment_paypal_start,
)
from payments.reconcile import find_payment_mismatches
from payments.refunds import payment_refund, refundable
from payments.selectors import amount_owed, payment_applied
from sandbox_gateway import paypal as sandbox_paypal
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn
from tests.factories import AccountFactory, MembershipFactory, UserFactory
from tests.payments.paying import start_paypal

D = Decimal
pytestmark = pytest.mark.django_db


def _charges() -> int:
    return SandboxRequest.objects.filter(kind="charge").count()


def test_a_card_payment_pays_the_oldest_invoice_first_and_leaves_the_rest_open(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    older = issue(account, "100.00", on=date(2026, 10, 1))
    newer = issue(account, "50.00", on=date(2026, 10, 5))

    payment = pay_by_card(account, owner, "120.00")

    assert payment.state == Payment.State.SUCCEEDED
    older.refresh_from_db()
    newer.refresh_from_db()
    assert (older.balance, older.state) == (D("0.00"), Invoice.State.PAID)
    assert (newer.balance, newer.state) == (D("30.00"), Invoice.State.OPEN)
    assert [(a.allocation.invoice, a.allocation.amount) for a in payment.allocations.all()] == [
        (older, D("100.00")),
        (newer, D("20.00")),
    ]
    assert amount_owed(account, "USD") == D("30.00")
    assert find_balance_mismatches() == []
    receipt = OutboundEmail.objects.get(key=f"payments.payment.receipt:{payment.pk}")
    assert "owner@example.com" in receipt.to
    assert "$120.00" in receipt.body and older.number in receipt.body
    assert "4242424242424242" not in receipt.body


def test_a_one_time_card_is_not_kept_and_does_not_change_the_monthly_card(
    account: Account, owner: User, rep: User, issue: IssueFn, pay_by_card, add_card
) -> None:
    issue(account, "80.00")
    monthly = payment_method_approve(payment_method=add_card(account, owner), by=rep)
    assert monthly.is_monthly

    payment = pay_by_card(account, owner, "80.00", "5555555555554444")

    assert payment.state == Payment.State.SUCCEEDED
    assert (payment.brand, payment.last4) == ("mastercard", "4444")
    assert list(PaymentMethod.objects.values_list("pk", flat=True)) == [monthly.pk]
    assert PaymentMethod.objects.get(is_monthly=True) == monthly
    # What the payment keeps: brand, last four and the gateway's reference, no token.
    stored = " ".join(str(v) for v in Payment.objects.filter(pk=payment.pk).values().get().values())
    assert "5555555555554444" not in stored and "tok_" not in stored
    assert payment.reference.startswith("ch_")


def test_a_declined_card_applies_nothing_and_says_why(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "100.00")

    payment = pay_by_card(account, owner, "100.00", "4000000000009995")

    assert payment.state == Payment.State.DECLINED
    assert payment.reason == "Your card has insufficient funds."
    invoice.refresh_from_db()
    assert invoice.balance == D("100.00")
    assert not payment.allocations.exists()
    assert not OutboundEmail.objects.filter(key__startswith="payments.payment.receipt").exists()


def test_a_fraud_class_decline_is_only_declined(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00", "4000000000000002")
    assert payment.reason == "Your card was declined."


@pytest.mark.parametrize(
    ("currency", "amount", "message"),
    [
        ("USD", "0", "greater than zero"),
        ("USD", "-5.00", "greater than zero"),
        ("USD", "100.01", "more than the balance"),
        ("USD", "10.001", "at most 2 decimals"),
        ("JPY", "10.5", "have no decimals"),
        ("USD", "NaN", "Enter a number"),
        ("EUR", "10.00", "Nothing is owed in EUR"),
    ],
)
def test_a_bad_amount_is_refused_before_anything_is_charged(
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
    currency: str,
    amount: str,
    message: str,
) -> None:
    issue(account, "100.00")
    issue(account, "1000", currency="JPY")

    with pytest.raises(PaymentError, match=message):
        pay_by_card(account, owner, amount, currency=currency)

    assert not Payment.objects.exists()
    assert _charges() == 0


def test_the_same_form_twice_is_one_payment_and_one_charge(
    account: Account, owner: User, issue: IssueFn, card_token, pay_by_card
) -> None:
    issue(account, "100.00")
    key = new_key()
    token = card_token()

    first = pay_by_card(account, owner, "40.00", token=token, key=key)
    again = pay_by_card(account, owner, "40.00", token=token, key=key)

    assert first.pk == again.pk
    assert Payment.objects.count() == 1
    assert _charges() == 1
    assert amount_owed(account, "USD") == D("60.00")


def test_a_form_key_of_another_account_is_refused(
    account: Account, owner: User, stranger: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    key = new_key()
    pay_by_card(account, owner, "40.00", key=key)
    theirs = stranger.memberships.get().account
    issue(theirs, "100.00")

    with pytest.raises(PaymentError):
        pay_by_card(theirs, stranger, "40.00", key=key)


def test_a_lost_answer_whose_charge_happened_settles_into_one_payment(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "100.00")

    payment = pay_by_card(account, owner, "100.00", "4000000000005126")

    assert payment.state == Payment.State.PROCESSING
    assert payment.attempts.get().status == GatewayAttempt.Status.UNKNOWN
    invoice.refresh_from_db()
    assert invoice.balance == D("100.00")
    # While the outcome is unknown the same balance cannot be paid again.
    with pytest.raises(PaymentError, match="still being processed"):
        pay_by_card(account, owner, "100.00")

    later = timezone.now() + timedelta(minutes=5)
    assert payments_settle(now=later) == 1
    assert payments_settle(now=later) == 0

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert invoice.balance == D("0.00")
    assert _charges() == 1
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 1
    assert find_balance_mismatches() == []


def test_a_lost_answer_whose_charge_never_happened_settles_into_none(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "100.00")

    payment = pay_by_card(account, owner, "100.00", "4000000000005134")
    assert payment.state == Payment.State.PROCESSING
    payments_settle(now=timezone.now() + timedelta(minutes=5))

    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.state == Payment.State.FAILED
    assert invoice.balance == D("100.00")
    assert _charges() == 0
    # Nothing is in flight any more: the balance can be paid.
    assert pay_by_card(account, owner, "100.00").state == Payment.State.SUCCEEDED


def test_a_recent_unanswered_charge_is_left_to_finish(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00", "4000000000005126")
    assert payments_settle(now=timezone.now()) == 0
    payment.refresh_from_db()
    assert payment.state == Payment.State.PROCESSING


def test_card_payments_and_added_cards_share_the_card_testing_limits(
    account: Account, owner: User, issue: IssueFn, pay_by_card, add_card, settings
) -> None:
    # Declines are what is counted (a card that works is not: see test_card_limits.py): one
    # card refused when added and one payment declined reach a limit of two.
    settings.CARD_DECLINES_PER_HOUR = 2
    issue(account, "100.00")
    add_card(account, owner, "4000000000000002")
    pay_by_card(account, owner, "10.00", "4000000000000002")
    charges = _charges()

    with pytest.raises(TooManyAttempts):
        pay_by_card(account, owner, "10.00")
    with pytest.raises(TooManyAttempts):
        add_card(account, owner)
    assert _charges() == charges


def test_an_expired_or_used_card_token_is_refused(
    account: Account, owner: User, issue: IssueFn, card_token, pay_by_card
) -> None:
    issue(account, "100.00")
    token = card_token()
    pay_by_card(account, owner, "10.00", token=token)
    with pytest.raises(PaymentError, match="could not be read"):
        pay_by_card(account, owner, "10.00", token=token)


# PayPal through the sandbox's approval page ---------------------------------------------------


def _start(account: Account, user: User, amount: str) -> Payment:
    started = start_paypal(account, user, amount)
    assert started.approve_url.startswith("/sandbox-gateway/paypal/checkoutnow?token=PP")
    return started.payment


def test_an_approved_paypal_order_is_captured_once_and_applied(
    account: Account, owner: User, issue: IssueFn
) -> None:
    invoice = issue(account, "100.00")
    payment = _start(account, owner, "100.00")
    assert payment.state == Payment.State.CREATED
    assert amount_owed(account, "USD") == D("100.00")

    sandbox_paypal.decide(payment.order_id, approve=True)
    payment = payment_paypal_capture(payment_id=payment.pk)
    again = payment_paypal_capture(payment_id=payment.pk)

    assert payment.state == again.state == Payment.State.SUCCEEDED
    assert payment.reference.startswith("cap_")
    invoice.refresh_from_db()
    assert invoice.state == Invoice.State.PAID
    assert payment.allocations.count() == 1
    assert find_balance_mismatches() == []


def test_a_paypal_order_cancelled_at_paypal_applies_nothing(
    account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner, "60.00")

    payment = payment_paypal_cancel(payment=payment)

    assert payment.state == Payment.State.CANCELLED
    assert amount_owed(account, "USD") == D("100.00")
    assert not SandboxRequest.objects.exists()


def test_a_paypal_order_returned_without_approval_is_not_captured(
    account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = payment_paypal_capture(payment_id=_start(account, owner, "60.00").pk)
    assert payment.state == Payment.State.FAILED
    assert amount_owed(account, "USD") == D("100.00")


def test_an_approved_order_whose_customer_never_came_back_is_captured_by_the_periodic_task(
    account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner, "100.00")
    sandbox_paypal.decide(payment.order_id, approve=True)

    payments_settle(now=timezone.now() + timedelta(minutes=5))

    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def test_a_paypal_order_never_approved_is_given_up_after_the_approval_window(
    account: Account, owner: User, issue: IssueFn, settings
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner, "100.00")
    payments_settle(now=timezone.now() + timedelta(minutes=5))
    payment.refresh_from_db()
    assert payment.state == Payment.State.CREATED

    Payment.objects.filter(pk=payment.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.PAYMENT_PAYPAL_APPROVAL_HOURS + 1)
    )
    payments_settle(now=timezone.now())
    payment.refresh_from_db()
    assert payment.state == Payment.State.CANCELLED


def test_a_paypal_order_for_more_than_is_now_owed_is_not_captured(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner, "100.00")
    pay_by_card(account, owner, "50.00")
    sandbox_paypal.decide(payment.order_id, approve=True)

    payment = payment_paypal_capture(payment_id=payment.pk)

    assert payment.state == Payment.State.CANCELLED
    assert amount_owed(account, "USD") == D("50.00")
    assert not SandboxRequest.objects.filter(idempotency_key__startswith="paypal:").exists()


# Concurrency --------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_payments_at_the_same_moment_leave_the_balance_exact(
    issue: IssueFn, card_token, pay_by_card
) -> None:
    account = AccountFactory()
    users = [UserFactory(email=f"payer{n}@example.com") for n in range(4)]
    for user in users:
        MembershipFactory(user=user, account=account)
    for day in range(1, 4):
        issue(account, "100.00", on=date(2026, 10, day))
    tokens = [card_token() for _ in users]
    barrier = threading.Barrier(len(users))
    outcomes: list[str] = []

    def pay(user: User, token: str) -> None:
        try:
            barrier.wait()
            outcomes.append(pay_by_card(account, user, "90.00", token=token).state)
        except PaymentError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=pair) for pair in zip(users, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    succeeded = Payment.objects.filter(state=Payment.State.SUCCEEDED).count()
    assert sorted(outcomes) == sorted(["succeeded"] * succeeded + ["refused"] * (4 - succeeded))
    assert succeeded == 3  # 300.00 owed: three payments of 90.00 fit, a fourth does not
    assert amount_owed(account, "USD") == D("300.00") - 3 * D("90.00")
    assert find_balance_mismatches() == []


# Settling, refunds and money a payment could not apply -----------------------------------------


def test_a_charge_given_up_while_still_under_way_counts_when_it_succeeds_after_all(
    account: Account, owner: User, issue: IssueFn, pay_by_card, monkeypatch
) -> None:
    issue(account, "100.00")
    gateway = card_gateway()
    real = gateway.charge_token

    def slow_charge(**kwargs: object) -> object:
        # The settler runs while the gateway is still answering, finds nothing there yet
        # and gives the payment up; then the gateway's answer arrives: it succeeded.
        payments_settle(now=timezone.now() + timedelta(minutes=5))
        assert Payment.objects.get().state == Payment.State.FAILED
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway, "charge_token", slow_charge)
    payment = pay_by_card(account, owner, "100.00")

    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")
    assert _charges() == 1
    assert find_balance_mismatches() == [] and find_payment_mismatches() == []


def test_a_paypal_payment_whose_order_was_never_created_fails_after_a_while(
    account: Account, owner: User, issue: IssueFn, monkeypatch
) -> None:
    issue(account, "100.00")
    gateway = paypal_gateway()

    def die(**kwargs: object) -> object:
        raise KeyboardInterrupt  # the process dies between the commit and PayPal

    monkeypatch.setattr(gateway, "create_order", die)
    with pytest.raises(KeyboardInterrupt):
        _start(account, owner, "100.00")
    payment = Payment.objects.get()
    assert (payment.state, payment.order_id) == (Payment.State.CREATED, "")

    payments_settle(now=timezone.now() + timedelta(minutes=2))
    payment.refresh_from_db()
    assert payment.state == Payment.State.CREATED
    payments_settle(now=timezone.now() + timedelta(minutes=11))
    payment.refresh_from_db()
    assert payment.state == Payment.State.FAILED


def test_a_refund_never_gives_back_what_a_credit_already_gave_back(
    account: Account, owner: User, rep: User, issue: IssueFn, pay_by_card
) -> None:
    invoice = issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    invoice_issue_credit(original=invoice, amount=D("100.00"), reason="Outage")

    assert refundable(payment) == D("0.00")
    with pytest.raises(RefundError, match="cannot exceed"):
        payment_refund(payment=payment, amount=D("100.00"), reason="Again", by=rep, key=new_key())
    assert not SandboxRequest.objects.filter(kind="refund").exists()


def test_the_same_refund_form_twice_refunds_once(
    account: Account, owner: User, rep: User, issue: IssueFn, pay_by_card
) -> None:
    issue(account, "100.00")
    payment = pay_by_card(account, owner, "100.00")
    key = new_key()

    first = payment_refund(payment=payment, amount=D("50.00"), reason="SLA", by=rep, key=key)
    again = payment_refund(payment=payment, amount=D("50.00"), reason="SLA", by=rep, key=key)

    assert first.pk == again.pk
    assert PaymentRefund.objects.count() == 1
    assert SandboxRequest.objects.filter(kind="refund").count() == 1
    assert refundable(payment) == D("50.00")


def test_money_a_payment_could_not_apply_is_refunded_by_itself(
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
    monkeypatch,
    django_capture_on_commit_callbacks,
) -> None:
    invoice = issue(account, "100.00")
    gateway = card_gateway()
    real = gateway.charge_token

    def credit_meanwhile(**kwargs: object) -> object:
        # While the gateway charges, staff credit part of the invoice.
        invoice_issue_credit(original=invoice, amount=D("30.00"), reason="Outage")
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway, "charge_token", credit_meanwhile)
    with django_capture_on_commit_callbacks(execute=True):
        payment = pay_by_card(account, owner, "100.00")

    assert payment.state == Payment.State.SUCCEEDED
    assert payment_applied(payment) == D("70.00")
    refund = PaymentRefund.objects.get(payment=payment)
    assert (refund.state, refund.amount, refund.created_by) == (
        PaymentRefund.State.SUCCEEDED,
        D("30.00"),
        None,
    )
    assert not refund.documents.exists()  # the money never paid an invoice
    assert refundable(payment) == D("70.00")
    assert find_payment_mismatches() == []


def test_a_payment_pays_many_invoices_in_order_whatever_their_number(
    account: Account, owner: User, issue: IssueFn, pay_by_card
) -> None:
    invoices = [
        issue(account, "10.00", on=date(2026, 10, 1) + timedelta(days=n)) for n in range(25)
    ]

    payment = pay_by_card(account, owner, "245.00")

    assert [a.allocation.invoice for a in payment.allocations.order_by("pk")] == invoices
    for invoice in invoices:
        invoice.refresh_from_db()
    assert [i.balance for i in invoices] == [D("0.00")] * 24 + [D("5.00")]


def test_paypal_is_not_offered_for_a_currency_it_does_not_take(
    account: Account, owner: User, issue: IssueFn, client
) -> None:
    issue(account, "10.000", currency="BHD")
    with pytest.raises(PaymentError, match="PayPal does not take payments in BHD"):
        payment_paypal_start(
            account=account,
            by=owner,
            amount=D("10.000"),
            currency="BHD",
            key=new_key(),
            return_url="http://testserver/r",
            cancel_url="http://testserver/c",
        )
    assert not Payment.objects.exists()
    client.force_login(owner)
    page = client.get("/payments/?currency=BHD").content.decode()
    assert "Pay with Credit Card" in page and 'data-testid="pay-with-paypal"' not in page
