"""PayPal payments end to end through the real Orders v2 adapter, against a local server
that answers as PayPal's REST API does (tests/payments/paypal_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account, OutboundEmail, User
from invoices.balances import find_balance_mismatches
from payments.core import new_key, payments_settle
from payments.gateways import paypal_gateway
from payments.models import Payment, PaymentRefund, WebhookEvent
from payments.one_time import payment_paypal_capture
from payments.refunds import payment_refund, refunds_settle
from payments.selectors import amount_owed, amount_payable
from tests.conftest import IssueFn
from tests.payments import paypal_server
from tests.payments.paying import start_paypal
from tests.payments.paypal_server import FakePayPal

D = Decimal
pytestmark = pytest.mark.django_db
fake_paypal = paypal_server.fake_paypal


@pytest.fixture
def paypal(fake_paypal: FakePayPal, settings) -> Iterator[FakePayPal]:
    """The portal configured with PayPal REST credentials, pointed at the local server."""
    settings.PAYPAL_GATEWAY = "paypal"
    settings.PAYPAL_API_URL = fake_paypal.url
    settings.PAYPAL_CLIENT_ID = fake_paypal.client_id
    settings.PAYPAL_CLIENT_SECRET = fake_paypal.client_secret
    settings.PAYPAL_WEBHOOK_ID = fake_paypal.webhook_id
    settings.PAYPAL_TIMEOUT_SECONDS = 2.0
    paypal_gateway.cache_clear()
    yield fake_paypal
    paypal_gateway.cache_clear()


def _start(account: Account, user: User, amount: str = "100.00") -> Payment:
    started = start_paypal(account, user, amount)
    assert started.approve_url.endswith(f"token={started.payment.order_id}")
    return started.payment


def _captures(paypal: FakePayPal) -> int:
    return len(
        [
            r
            for r in paypal.requests_to("POST", "/v2/checkout/orders/")
            if r.path.endswith("/capture")
        ]
    )


def test_an_order_is_created_for_the_servers_amount_with_a_request_id(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner, "75.50")

    create = paypal.requests_to("POST", "/v2/checkout/orders")[0]
    assert create.header("PayPal-Request-Id") == f"payment:{payment.pk}:order"
    assert create.json["purchase_units"][0]["amount"] == {"currency_code": "USD", "value": "75.50"}
    assert payment.state == Payment.State.CREATED


def test_approved_and_captured_completed_is_paid(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)

    payment = payment_paypal_capture(payment_id=payment.pk)

    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")
    capture = next(r for r in paypal.requests if r.path.endswith("/capture"))
    assert capture.header("PayPal-Request-Id") == f"payment:{payment.pk}:capture"
    assert OutboundEmail.objects.filter(key=f"payments.payment.receipt:{payment.pk}").exists()


def test_a_pending_capture_stays_pending_until_paypal_completes_it(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    paypal.capture_status = "PENDING"
    payment = _start(account, owner)
    paypal.approve(payment.order_id)

    payment = payment_paypal_capture(payment_id=payment.pk)
    assert payment.state == Payment.State.PENDING
    assert amount_owed(account, "USD") == D("100.00")
    payments_settle(now=timezone.now() + timedelta(minutes=5))
    payment.refresh_from_db()
    assert payment.state == Payment.State.PENDING

    paypal.complete_capture(payment.reference)
    payments_settle(now=timezone.now() + timedelta(minutes=5))

    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")
    assert _captures(paypal) == 1


@pytest.mark.parametrize("decline_as", ["INSTRUMENT_DECLINED", "CAPTURE"])
def test_a_declined_capture_applies_nothing(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn, decline_as: str
) -> None:
    issue(account, "100.00")
    paypal.capture_status = "DECLINED"
    paypal.decline_as = decline_as
    payment = _start(account, owner)
    paypal.approve(payment.order_id)

    payment = payment_paypal_capture(payment_id=payment.pk)

    assert payment.state == Payment.State.DECLINED
    assert amount_owed(account, "USD") == D("100.00")
    assert not payment.allocations.exists()


def test_a_capture_whose_answer_was_lost_is_settled_without_capturing_again(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    paypal.stall_next("capture", 4)

    payment = payment_paypal_capture(payment_id=payment.pk)
    assert payment.state == Payment.State.PROCESSING

    payments_settle(now=timezone.now() + timedelta(minutes=5))
    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert _captures(paypal) == 1
    assert find_balance_mismatches() == []


def test_an_approved_order_never_returned_from_is_captured_by_the_periodic_task(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)

    payments_settle(now=timezone.now() + timedelta(minutes=5))

    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def _webhook(client: Client, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    response = client.post(
        reverse("payments:paypal_webhook"),
        data=body,
        content_type="application/json",
        headers=headers,
    )
    return response.status_code, response.content.decode()


def test_the_same_valid_webhook_twice_makes_one_payment(
    paypal: FakePayPal,
    client: Client,
    account: Account,
    owner: User,
    issue: IssueFn,
    django_capture_on_commit_callbacks,
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    headers, body = paypal.signed_webhook(
        "CHECKOUT.ORDER.APPROVED", paypal.order_json(payment.order_id)
    )

    with django_capture_on_commit_callbacks(execute=True) as first:
        assert _webhook(client, headers, body) == (200, "accepted")
    with django_capture_on_commit_callbacks(execute=True) as again:
        assert _webhook(client, headers, body) == (200, "duplicate")
    assert first and not again  # the redelivery asks no worker to act

    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 1
    assert payment.allocations.count() == 1
    assert _captures(paypal) == 1
    assert WebhookEvent.objects.count() == 1


def test_a_capture_completed_webhook_settles_a_pending_payment(
    paypal: FakePayPal,
    client: Client,
    account: Account,
    owner: User,
    issue: IssueFn,
    django_capture_on_commit_callbacks,
) -> None:
    issue(account, "100.00")
    paypal.capture_status = "PENDING"
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    payment = payment_paypal_capture(payment_id=payment.pk)
    assert payment.state == Payment.State.PENDING

    resource = paypal.complete_capture(payment.reference)
    headers, body = paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", resource)
    with django_capture_on_commit_callbacks(execute=True):
        assert _webhook(client, headers, body) == (200, "accepted")

    payment.refresh_from_db()
    assert payment.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


def test_a_webhook_with_a_forged_signature_changes_nothing(
    paypal: FakePayPal,
    client: Client,
    account: Account,
    owner: User,
    issue: IssueFn,
    django_capture_on_commit_callbacks,
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    headers, body = paypal.signed_webhook(
        "CHECKOUT.ORDER.APPROVED", paypal.order_json(payment.order_id)
    )
    headers = {**headers, "PAYPAL-TRANSMISSION-SIG": "Zm9yZ2Vk"}

    with django_capture_on_commit_callbacks(execute=True):
        assert _webhook(client, headers, body) == (400, "ignored")

    payment.refresh_from_db()
    assert payment.state == Payment.State.CREATED
    assert _captures(paypal) == 0
    assert not WebhookEvent.objects.exists()


def test_a_paypal_payment_is_refunded_through_paypal(
    paypal: FakePayPal, account: Account, owner: User, rep: User, issue: IssueFn
) -> None:
    invoice = issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    payment = payment_paypal_capture(payment_id=payment.pk)

    refund = payment_refund(
        payment=payment, amount=D("30.00"), reason="Goodwill", by=rep, key=new_key()
    )

    assert refund.state == PaymentRefund.State.SUCCEEDED
    call = paypal.requests_to("POST", f"/v2/payments/captures/{payment.reference}/refund")[0]
    assert call.header("PayPal-Request-Id") == f"refund:{refund.pk}"
    assert [doc.refers_to for doc in refund.documents.all()] == [invoice]
    assert find_balance_mismatches() == []


def test_an_order_voided_after_a_lost_capture_fails_and_frees_the_balance(
    paypal: FakePayPal, account: Account, owner: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    paypal.fail_next("capture", status=500)  # no answer, and nothing captured
    payment = payment_paypal_capture(payment_id=payment.pk)
    assert payment.state == Payment.State.PROCESSING
    assert amount_payable(account, "USD") == D("0.00")

    paypal.orders[payment.order_id].status = "VOIDED"  # PayPal gave the approval up
    payments_settle(now=timezone.now() + timedelta(minutes=5))

    payment.refresh_from_db()
    assert payment.state == Payment.State.FAILED
    assert amount_payable(account, "USD") == D("100.00")
    assert _captures(paypal) == 1


def test_a_pending_paypal_refund_is_settled_by_looking_it_up(
    paypal: FakePayPal, account: Account, owner: User, rep: User, issue: IssueFn
) -> None:
    issue(account, "100.00")
    payment = _start(account, owner)
    paypal.approve(payment.order_id)
    payment = payment_paypal_capture(payment_id=payment.pk)
    paypal.refund_status = "PENDING"

    refund = payment_refund(
        payment=payment, amount=D("40.00"), reason="Goodwill", by=rep, key=new_key()
    )
    assert refund.state == PaymentRefund.State.PENDING
    assert not refund.documents.exists()
    refunds_settle(now=timezone.now() + timedelta(minutes=5))
    refund.refresh_from_db()
    assert refund.state == PaymentRefund.State.PENDING

    paypal.refunds[refund.reference].status = "COMPLETED"
    refunds_settle(now=timezone.now() + timedelta(minutes=5))

    refund.refresh_from_db()
    assert refund.state == PaymentRefund.State.SUCCEEDED
    assert refund.documents.count() == 1
    assert len(paypal.requests_to("POST", f"/v2/payments/captures/{payment.reference}")) == 1
