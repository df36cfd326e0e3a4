"""The card-testing limits count what card testing looks like (declined cards and payments,
attempts not answered yet, many different cards), never a customer paying with a card that
works or adding one that passes the gateway's check."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Account, User
from payments.card_checks import BillingAddress
from payments.cards import payment_method_add, payment_method_give_up_verifying
from payments.errors import TooManyAttempts
from payments.models import Payment, PaymentMethod
from sandbox_gateway.models import SandboxRequest
from tests.conftest import IssueFn, TokenFn

pytestmark = pytest.mark.django_db

DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
TIMES_OUT_UNCHARGED = "4000000000005134"
GOOD_CARDS = ("4242424242424242", "5555555555554444", "378282246310005")


def _luhn_visa(n: int) -> str:
    body = f"424242424242{n:03d}"
    total = 0
    for position, digit in enumerate(reversed(body)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return body + str(-total % 10)


def _charges() -> int:
    return SandboxRequest.objects.filter(kind="charge").count()


@pytest.fixture(autouse=True)
def _defaults(settings) -> None:
    settings.CARD_DECLINES_PER_HOUR = 5
    settings.CARD_DISTINCT_PER_HOUR = 5
    settings.CARD_NEW_PER_WINDOW = 100


def test_a_customer_paying_again_and_again_with_cards_that_work_is_never_stopped(
    account: Account, owner: User, issue: IssueFn, pay_by_card, add_card
) -> None:
    """The issue's case: five card submissions in a minute, adds and payments together."""
    issue(account, "500.00")
    add_card(account, owner, GOOD_CARDS[0])
    add_card(account, owner, GOOD_CARDS[1])
    for _ in range(12):
        payment = pay_by_card(account, owner, "10.00", GOOD_CARDS[1])
        assert payment.state == Payment.State.SUCCEEDED
    assert pay_by_card(account, owner, "10.00", GOOD_CARDS[0]).state == Payment.State.SUCCEEDED


def test_declines_of_added_cards_and_of_payments_are_counted_together(
    account: Account, owner: User, issue: IssueFn, pay_by_card, add_card, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 3
    issue(account, "100.00")
    assert add_card(account, owner, DECLINED).state == PaymentMethod.State.REJECTED
    assert pay_by_card(account, owner, "10.00", DECLINED).state == Payment.State.DECLINED
    assert pay_by_card(account, owner, "10.00", INSUFFICIENT_FUNDS).state == Payment.State.DECLINED
    charges = _charges()

    # Even a card that works is refused now, before the gateway is asked.
    with pytest.raises(TooManyAttempts):
        pay_by_card(account, owner, "10.00", GOOD_CARDS[0])
    with pytest.raises(TooManyAttempts):
        add_card(account, owner, GOOD_CARDS[0])
    assert _charges() == charges
    assert PaymentMethod.objects.count() == 1


def test_an_attempt_counts_until_it_is_answered_then_only_if_it_failed(
    account: Account, owner: User, issue: IssueFn, pay_by_card, card_token: TokenFn, settings
) -> None:
    """Counted from the moment it is recorded, so that attempts made at once all count; a
    card that passes the check, or a payment that goes through, stops counting."""
    settings.CARD_DECLINES_PER_HOUR = 2
    issue(account, "100.00")
    # Added, not checked yet (the worker has not run: this test's transaction never commits).
    verifying = payment_method_add(
        account=account,
        by=owner,
        token=card_token(GOOD_CARDS[0]),
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    unanswered = pay_by_card(account, owner, "10.00", TIMES_OUT_UNCHARGED)
    assert (verifying.state, unanswered.state) == (
        PaymentMethod.State.VERIFYING,
        Payment.State.PROCESSING,
    )
    with pytest.raises(TooManyAttempts):
        pay_by_card(account, owner, "10.00", GOOD_CARDS[1])

    PaymentMethod.objects.filter(pk=verifying.pk).update(
        state=PaymentMethod.State.AWAITING_APPROVAL
    )
    assert pay_by_card(account, owner, "10.00", GOOD_CARDS[1]).state == Payment.State.SUCCEEDED


def test_a_verification_the_gateway_never_answered_is_not_the_cards_fault(
    account: Account, owner: User, issue: IssueFn, pay_by_card, card_token: TokenFn, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    issue(account, "100.00")
    method = payment_method_add(
        account=account,
        by=owner,
        token=card_token(GOOD_CARDS[0]),
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    payment_method_give_up_verifying(payment_method_id=method.pk)

    assert pay_by_card(account, owner, "10.00").state == Payment.State.SUCCEEDED


def test_many_different_cards_are_stopped_but_a_card_tried_already_is_not(
    account: Account,
    owner: User,
    issue: IssueFn,
    pay_by_card,
    add_card,
    card_token: TokenFn,
    settings,
) -> None:
    settings.CARD_DISTINCT_PER_HOUR = 3

    def amex() -> str:
        return card_token(GOOD_CARDS[2], cvc="1234")

    issue(account, "100.00")
    add_card(account, owner, GOOD_CARDS[0])
    pay_by_card(account, owner, "1.00", GOOD_CARDS[1])
    pay_by_card(account, owner, "1.00", token=amex())
    charges = _charges()

    with pytest.raises(TooManyAttempts):
        pay_by_card(account, owner, "1.00", _luhn_visa(1))
    with pytest.raises(TooManyAttempts):
        add_card(account, owner, _luhn_visa(2))
    assert _charges() == charges
    # The cards already tried still pay.
    for token in (card_token(GOOD_CARDS[0]), card_token(GOOD_CARDS[1]), amex()):
        assert pay_by_card(account, owner, "1.00", token=token).state == Payment.State.SUCCEEDED


def test_the_limits_span_a_users_accounts_and_a_client_address(
    account: Account,
    owner: User,
    other_account: Account,
    stranger: User,
    issue: IssueFn,
    card_token: TokenFn,
    settings,
) -> None:
    from payments.core import new_key
    from payments.one_time import payment_pay_by_card

    settings.CARD_DECLINES_PER_HOUR = 2

    def pay(account: Account, user: User, number: str, ip: str | None) -> Payment:
        return payment_pay_by_card(
            account=account,
            by=user,
            token=card_token(number),
            amount=Decimal("10.00"),
            currency=account.currency,
            key=new_key(),
            address=BillingAddress.of_account(account),
            ip=ip,
        )

    issue(account, "100.00")
    issue(other_account, "100.00")
    pay(account, owner, DECLINED, "198.51.100.7")
    pay(other_account, stranger, DECLINED, "198.51.100.7")
    # Another customer at another address is not concerned...
    assert pay(account, owner, GOOD_CARDS[0], "203.0.113.9").state == Payment.State.SUCCEEDED
    # ...but the address that saw two declines is stopped, whoever pays from it.
    with pytest.raises(TooManyAttempts):
        pay(account, owner, GOOD_CARDS[0], "198.51.100.7")


def test_declines_older_than_an_hour_no_longer_count(
    account: Account, owner: User, issue: IssueFn, pay_by_card, settings
) -> None:
    settings.CARD_DECLINES_PER_HOUR = 1
    issue(account, "100.00")
    pay_by_card(account, owner, "10.00", DECLINED)
    with pytest.raises(TooManyAttempts):
        pay_by_card(account, owner, "10.00")

    Payment.objects.update(created_at=timezone.now() - timedelta(minutes=61))
    assert pay_by_card(account, owner, "10.00").state == Payment.State.SUCCEEDED


def test_a_payment_keeps_the_gateways_fingerprint_of_its_card_never_the_number(
    account: Account, owner: User, issue: IssueFn, pay_by_card, add_card
) -> None:
    issue(account, "100.00")
    method = add_card(account, owner, GOOD_CARDS[0])
    payment = pay_by_card(account, owner, "10.00", GOOD_CARDS[0])
    assert payment.fingerprint and payment.fingerprint == method.fingerprint
    assert GOOD_CARDS[0] not in payment.fingerprint
