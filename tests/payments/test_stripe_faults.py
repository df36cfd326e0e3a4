"""Stripe over a network that fails: answers lost after Stripe acted, requests that never got
there, the same request sent twice. Never a charge the portal cannot find, never two."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import httpx
import pytest
from django.utils import timezone

from accounts.models import Account, User
from billing.models import AutoCharge
from invoices.balances import find_balance_mismatches
from invoices.models import RecurringCharge
from payments.card_checks import BillingAddress
from payments.core import new_key, payments_settle
from payments.errors import PaymentError
from payments.gateways import card_gateway
from payments.gateways.base import GatewayTimeout, Outcome
from payments.models import GatewayAttempt, Payment, PaymentMethod, PaymentRefund
from payments.one_time import payment_card_start
from payments.reconcile import find_payment_mismatches
from payments.refunds import payment_refund, refunds_settle
from payments.selectors import amount_owed
from tests.billing.clock import run
from tests.payments.stripe_support import SECRET_KEY, StripeLine, stripe_list

pytestmark = pytest.mark.django_db
D = Decimal
INTENTS = "/v1/payment_intents"
CONFIRM = r"/v1/payment_intents/pi_\w+/confirm"


@pytest.fixture
def hosting(account: Account) -> RecurringCharge:
    return RecurringCharge.objects.create(
        account=account, description="VPS", unit_price=D("40.00"), starts_on=date(2026, 10, 1)
    )


def _settle_later() -> int:
    return payments_settle(now=timezone.now() + timedelta(minutes=5))


def _succeeded_charges(localstripe: str) -> list[dict]:
    return [charge for charge in stripe_list(localstripe, "charges") if charge["paid"]]


def test_a_monthly_charge_whose_answer_is_lost_is_found_and_not_made_twice(
    account: Account,
    hosting: RecurringCharge,
    monthly_stripe,
    stripe_line: StripeLine,
    localstripe: str,
) -> None:
    monthly_stripe("4242424242424242")
    stripe_line.lose_answer("POST", CONFIRM)
    run(date(2026, 10, 1))
    assert stripe_line.pending_faults == 0
    payment = Payment.objects.get()
    attempt = payment.attempts.get(kind=GatewayAttempt.Kind.CHARGE)
    assert attempt.status == GatewayAttempt.Status.UNKNOWN
    assert attempt.reference.startswith("pi_")
    # Stripe charged; the portal does not know yet, and owes nothing twice.
    assert len(_succeeded_charges(localstripe)) == 1
    run(date(2026, 10, 2))
    assert Payment.objects.count() == 1

    assert _settle_later() == 1
    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert payment.reference == attempt.reference
    assert (payment.brand, payment.last4) == ("visa", "4242")
    assert AutoCharge.objects.get().state == AutoCharge.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")
    assert len(_succeeded_charges(localstripe)) == 1
    assert find_payment_mismatches() == [] and find_balance_mismatches() == []


def test_a_monthly_charge_whose_creation_answer_is_lost_charged_nothing(
    account: Account,
    hosting: RecurringCharge,
    monthly_stripe,
    stripe_line: StripeLine,
    localstripe: str,
) -> None:
    monthly_stripe("4242424242424242")
    stripe_line.lose_answer("POST", INTENTS)
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert payment.state == Payment.State.FAILED
    # Stripe holds an unconfirmed PaymentIntent, which can move no money.
    (intent,) = stripe_list(localstripe, "payment_intents")
    assert intent["status"] == "requires_confirmation"
    assert _succeeded_charges(localstripe) == []
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.SCHEDULED and charge.declines == 0
    assert amount_owed(account, "USD") == D("40.00")


def test_a_confirmation_that_never_reached_stripe_is_canceled_and_tried_again(
    account: Account,
    hosting: RecurringCharge,
    monthly_stripe,
    stripe_line: StripeLine,
    localstripe: str,
) -> None:
    monthly_stripe("4242424242424242")
    stripe_line.lose_request("POST", CONFIRM)
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert payment.state in (Payment.State.FAILED, *Payment.IN_FLIGHT)
    _settle_later()
    payment.refresh_from_db()
    assert payment.state == Payment.State.FAILED
    assert _succeeded_charges(localstripe) == []
    (intent,) = stripe_list(localstripe, "payment_intents")
    assert intent["status"] == "canceled"
    charge = AutoCharge.objects.get()
    assert charge.state == AutoCharge.State.SCHEDULED and charge.next_attempt_at is not None


def test_stripe_unreachable_charges_nothing_and_the_charge_is_tried_again(
    account: Account, hosting: RecurringCharge, monthly_stripe, settings, localstripe: str
) -> None:
    monthly_stripe("4242424242424242")
    with socket_closed() as address:
        settings.STRIPE_API_BASE = address
        card_gateway.cache_clear()
        run(date(2026, 10, 1))
    card_gateway.cache_clear()
    payment = Payment.objects.get()
    assert payment.state == Payment.State.FAILED
    assert stripe_list(localstripe, "payment_intents") == []
    assert AutoCharge.objects.get().state == AutoCharge.State.SCHEDULED


def test_the_same_charge_sent_twice_is_one_payment_intent_and_one_charge(
    account: Account, monthly_stripe, localstripe: str
) -> None:
    method: PaymentMethod = monthly_stripe("4242424242424242")
    gateway = card_gateway()
    key = new_key()
    first = gateway.charge(
        credential=method.credential, amount=D("12.50"), currency="USD", idempotency_key=key
    )
    again = gateway.charge(
        credential=method.credential, amount=D("12.50"), currency="USD", idempotency_key=key
    )
    assert first.outcome == again.outcome == Outcome.SUCCEEDED
    assert first.reference == again.reference
    assert len(stripe_list(localstripe, "payment_intents")) == 1
    assert [charge["amount"] for charge in _succeeded_charges(localstripe)] == [1250]


def test_a_key_reused_for_another_amount_is_refused_by_stripe(
    account: Account, monthly_stripe, localstripe: str
) -> None:
    method: PaymentMethod = monthly_stripe("4242424242424242")
    gateway = card_gateway()
    key = new_key()
    gateway.charge(
        credential=method.credential, amount=D("12.50"), currency="USD", idempotency_key=key
    )
    refused = gateway.charge(
        credential=method.credential, amount=D("99.00"), currency="USD", idempotency_key=key
    )
    assert refused.outcome == Outcome.FAILED
    assert [charge["amount"] for charge in _succeeded_charges(localstripe)] == [1250]


def test_a_refund_whose_answer_is_lost_is_found_and_not_made_twice(
    account: Account,
    rep: User,
    hosting: RecurringCharge,
    monthly_stripe,
    stripe_line: StripeLine,
    localstripe: str,
) -> None:
    monthly_stripe("4242424242424242")
    run(date(2026, 10, 1))
    payment = Payment.objects.get()
    assert payment.state == Payment.State.SUCCEEDED
    stripe_line.lose_answer("POST", "/v1/refunds")
    refund = payment_refund(
        payment=payment, amount=D("15.00"), reason="Outage credit", by=rep, key=new_key()
    )
    assert refund.state == PaymentRefund.State.PROCESSING
    assert refunds_settle(now=timezone.now() + timedelta(minutes=5)) == 1
    refund.refresh_from_db()
    assert refund.state == PaymentRefund.State.SUCCEEDED
    refunds = stripe_list(localstripe, "refunds", payment_intent=payment.reference)
    assert [item["amount"] for item in refunds] == [1500]
    assert find_payment_mismatches() == [] and find_balance_mismatches() == []


def test_a_lookup_stripe_cannot_answer_is_asked_again_later(
    account: Account, hosting: RecurringCharge, monthly_stripe, stripe_line: StripeLine
) -> None:
    monthly_stripe("4242424242424242")
    stripe_line.lose_answer("POST", CONFIRM)
    run(date(2026, 10, 1))
    stripe_line.lose_request("GET", r"/v1/payment_intents/pi_\w+")
    assert _settle_later() == 0
    assert Payment.objects.get().state in Payment.IN_FLIGHT
    assert _settle_later() == 1
    assert Payment.objects.get().state == Payment.State.SUCCEEDED


def test_a_lost_confirmation_carries_the_payment_intent_to_the_attempt(
    account: Account, monthly_stripe, stripe_line: StripeLine
) -> None:
    method: PaymentMethod = monthly_stripe("4242424242424242")
    stripe_line.lose_answer("POST", CONFIRM)
    with pytest.raises(GatewayTimeout) as lost:
        card_gateway().charge(
            credential=method.credential,
            amount=D("5.00"),
            currency="USD",
            idempotency_key=new_key(),
        )
    assert lost.value.reference.startswith("pi_")


class socket_closed:
    """An address where nothing listens (Stripe unreachable)."""

    def __enter__(self) -> str:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self._socket.close()


def _start(account: Account, owner: User, amount: str = "100.00", currency: str = "USD"):
    return payment_card_start(
        account=account,
        by=owner,
        amount=D(amount),
        currency=currency,
        key=new_key(),
        address=BillingAddress.of_account(account),
    )


def test_a_payment_whose_start_is_lost_is_started_again_by_the_same_form(
    account: Account, owner: User, issue, stripe_line: StripeLine, localstripe: str
) -> None:
    issue(account, "100.00")
    key = new_key()
    args = {
        "account": account,
        "by": owner,
        "amount": D("100.00"),
        "currency": "USD",
        "key": key,
        "address": BillingAddress.of_account(account),
    }
    stripe_line.lose_answer("POST", INTENTS)
    with pytest.raises(PaymentError, match="could not be reached"):
        payment_card_start(**args)
    payment = Payment.objects.get()
    assert payment.state == Payment.State.PROCESSING and not payment.reference
    # Pressing Pay again sends the same form: Stripe answers the same key with the same
    # PaymentIntent, which the customer can now confirm.
    again = payment_card_start(**args)
    assert again.payment.pk == payment.pk and again.client_secret
    (intent,) = stripe_list(localstripe, "payment_intents")
    assert again.payment.reference == intent["id"]


def test_a_payment_whose_start_is_lost_and_never_tried_again_fails(
    account: Account, owner: User, issue, stripe_line: StripeLine, localstripe: str
) -> None:
    issue(account, "100.00")
    stripe_line.lose_answer("POST", INTENTS)
    with pytest.raises(PaymentError, match="could not be reached"):
        _start(account, owner)
    assert _settle_later() == 1
    assert Payment.objects.get().state == Payment.State.FAILED
    # Stripe holds a PaymentIntent nobody can confirm: its secret never left the portal.
    (intent,) = stripe_list(localstripe, "payment_intents")
    assert intent["status"] == "requires_payment_method"
    assert _start(account, owner).client_secret


def test_a_payment_stripe_refuses_is_failed_with_a_clear_error(
    account: Account, owner: User, issue, stripe_line: StripeLine, localstripe: str
) -> None:
    issue(account, "100.00")
    stripe_line.refuse(
        "POST",
        INTENTS,
        400,
        {
            "code": "amount_too_small",
            "doc_url": "https://stripe.com/docs/error-codes/amount-too-small",
            "message": "Amount must be at least $0.50 usd",
            "param": "amount",
            "type": "invalid_request_error",
        },
    )
    with pytest.raises(PaymentError, match="does not take this payment"):
        _start(account, owner)
    assert Payment.objects.get().state == Payment.State.FAILED
    assert stripe_list(localstripe, "payment_intents") == []


class WorkerDied(Exception):
    """The worker is killed once Stripe answered, before the answer is recorded."""


@pytest.mark.parametrize("id_recorded", [True, False], ids=["id-recorded", "id-not-recorded"])
def test_a_worker_that_dies_mid_charge_leaves_a_charge_that_is_found_not_made_again(
    account: Account,
    hosting: RecurringCharge,
    monthly_stripe,
    localstripe: str,
    monkeypatch: pytest.MonkeyPatch,
    id_recorded: bool,
) -> None:
    import billing.charges

    monthly_stripe("4242424242424242")

    def died(**kwargs: object) -> None:
        raise WorkerDied

    monkeypatch.setattr(billing.charges, "payment_record_outcome", died)
    if not id_recorded:
        # Killed even before the PaymentIntent's id was written down.
        monkeypatch.setattr(billing.charges, "attempt_keep_reference", lambda **kwargs: None)
    with pytest.raises(WorkerDied):
        run(date(2026, 10, 1))
    monkeypatch.undo()
    payment = Payment.objects.get()
    assert payment.state == Payment.State.PROCESSING
    assert bool(payment.attempts.get().reference) is id_recorded
    assert len(_succeeded_charges(localstripe)) == 1

    assert _settle_later() == 1
    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED and payment.reference.startswith("pi_")
    assert AutoCharge.objects.get().state == AutoCharge.State.SUCCEEDED
    run(date(2026, 10, 2))
    assert Payment.objects.count() == 1
    assert len(_succeeded_charges(localstripe)) == 1
    assert amount_owed(account, "USD") == D("0.00")


def test_a_payment_given_up_while_stripe_is_taking_it_is_not_called_declined(
    account: Account,
    owner: User,
    issue,
    stripe_line: StripeLine,
    stripe_browser,
    localstripe: str,
) -> None:
    """The customer's challenge result lands just as the portal gives up waiting: Stripe
    refuses to cancel a PaymentIntent that is `processing`, and the money is on its way."""
    from payments.one_time import payment_card_abandon

    issue(account, "100.00")
    started = _start(account, owner)
    stripe_browser.confirm_payment(started.client_secret, "4242424242424242")
    reference = started.payment.reference
    intent = httpx.get(
        f"{localstripe}/v1/payment_intents/{reference}", auth=(SECRET_KEY, ""), timeout=10
    ).json()
    stripe_line.refuse(
        "POST",
        rf"/v1/payment_intents/{reference}/cancel",
        400,
        {
            "code": "payment_intent_unexpected_state",
            "message": "You cannot cancel this PaymentIntent because it has a status of "
            "processing. Only a PaymentIntent with one of the following statuses may be "
            "canceled: requires_payment_method, requires_capture, requires_confirmation, "
            "requires_action.",
            "type": "invalid_request_error",
            "payment_intent": {**intent, "status": "processing"},
        },
    )
    stripe_line.answer(
        "GET", rf"/v1/payment_intents/{reference}", 200, {**intent, "status": "processing"}
    )
    payment = payment_card_abandon(payment=Payment.objects.get(pk=started.payment.pk))
    assert payment.state == Payment.State.PENDING
    assert stripe_line.pending_faults == 0
    # Stripe finishes: the settler records the success.
    assert _settle_later() == 1
    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def test_a_decline_recorded_by_webhook_cancels_the_intent_the_page_could_confirm(
    account: Account, owner: User, issue, stripe_browser, localstripe: str, client
) -> None:
    """The webhook of a decline arrives before the customer's page comes back: the intent
    is canceled, so the secret still in the page cannot take the money behind a payment
    recorded as declined."""
    from tests.payments.test_stripe_webhooks import deliver, event

    issue(account, "100.00")
    started = _start(account, owner)
    stripe_browser.confirm_payment(started.client_secret, "4000000000000002")
    body = event("payment_intent.payment_failed", {"id": started.payment.reference})
    assert deliver(client, body).content == b"accepted"
    payment = Payment.objects.get(pk=started.payment.pk)
    assert payment.state == Payment.State.DECLINED
    again = stripe_browser.confirm_payment(started.client_secret, "4242424242424242")
    assert again["error"]["code"] == "payment_intent_unexpected_state"
    intent = httpx.get(
        f"{localstripe}/v1/payment_intents/{payment.reference}",
        auth=(SECRET_KEY, ""),
        timeout=10,
    ).json()
    assert intent["status"] == "canceled"
    assert _succeeded_charges(localstripe) == []


@pytest.mark.parametrize(
    ("currency", "price", "reason"),
    [
        ("USD", "0.30", "The amount is below the smallest charge the card processor takes."),
        ("BHD", "10.005", "The card processor cannot charge this amount exactly."),
    ],
)
def test_a_monthly_charge_stripe_cannot_take_is_given_up_at_once_with_why(
    account: Account,
    monthly_stripe,
    localstripe: str,
    currency: str,
    price: str,
    reason: str,
) -> None:
    from accounts.models import OutboundEmail

    account.currency = currency
    account.save(update_fields=["currency"])
    monthly_stripe("4242424242424242")
    RecurringCharge.objects.create(
        account=account, description="DNS", unit_price=D(price), starts_on=date(2026, 10, 1)
    )
    run(date(2026, 10, 1))
    charge = AutoCharge.objects.get()
    assert (charge.state, charge.decline_code) == (AutoCharge.State.FAILED, charge.decline_code)
    assert charge.reason == reason and charge.next_attempt_at is None
    assert Payment.objects.get().state == Payment.State.DECLINED
    assert stripe_list(localstripe, "payment_intents") == []
    notice = OutboundEmail.objects.get(key__contains=f"autocharge.{charge.pk}.declined")
    assert reason in notice.body and "We will not try the card again" in notice.body
    # Nothing more is tried on later days.
    run(date(2026, 10, 2))
    assert Payment.objects.count() == 1
