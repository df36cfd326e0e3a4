"""Stripe's webhooks: believed only when signed with the endpoint's secret and fresh, acted on
once, and never taken at their word (what changed is read back from Stripe's API)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, User
from payments.card_checks import BillingAddress
from payments.cards import card_setup_start_for, payment_method_add
from payments.core import new_key
from payments.models import Payment, PaymentMethod, WebhookEvent
from payments.one_time import payment_card_start
from payments.selectors import amount_owed
from tests.payments.stripe_support import WEBHOOK_SECRET, StripeBrowser

D = Decimal
URL = reverse("payments:stripe_webhook")


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """The `Stripe-Signature` header, as Stripe computes it ("Verify webhook signatures":
    HMAC-SHA256 of "<timestamp>.<payload>" with the endpoint's secret)."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def event(kind: str, obj: dict[str, Any], *, event_id: str = "evt_portal_1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": obj},
        }
    ).encode()


def deliver(client: Client, body: bytes, signature: str | None = None) -> Any:
    return client.post(
        URL,
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": sign(body) if signature is None else signature},
    )


@pytest.fixture
def confirmed_in_browser(
    account: Account, owner: User, issue, stripe_browser: StripeBrowser
) -> Payment:
    """A payment the customer confirmed with Stripe, whose page never came back to the
    portal (the tab was closed): only the webhook can tell."""
    issue(account, "100.00")
    started = payment_card_start(
        account=account,
        by=owner,
        amount=D("100.00"),
        currency="USD",
        key=new_key(),
        address=BillingAddress.of_account(account),
    )
    stripe_browser.confirm_payment(started.client_secret, "4242424242424242")
    payment = Payment.objects.get(pk=started.payment.pk)
    assert payment.state in Payment.IN_FLIGHT
    return payment


@pytest.mark.django_db
def test_a_signed_event_settles_the_payment_from_stripe(
    client: Client, account: Account, confirmed_in_browser: Payment
) -> None:
    body = event("payment_intent.succeeded", {"id": confirmed_in_browser.reference})
    response = deliver(client, body)
    assert (response.status_code, response.content) == (200, b"accepted")
    confirmed_in_browser.refresh_from_db()
    assert confirmed_in_browser.state == Payment.State.SUCCEEDED
    assert amount_owed(account, "USD") == D("0.00")


@pytest.mark.django_db
def test_an_event_is_not_believed_over_stripe(
    client: Client, account: Account, owner: User, issue, stripe_gateway: Any
) -> None:
    """A signed `succeeded` for a payment Stripe has not taken changes nothing."""
    issue(account, "100.00")
    started = payment_card_start(
        account=account,
        by=owner,
        amount=D("100.00"),
        currency="USD",
        key=new_key(),
        address=BillingAddress.of_account(account),
    )
    body = event(
        "payment_intent.succeeded",
        {"id": started.payment.reference, "status": "succeeded", "amount_received": 10000},
    )
    assert deliver(client, body).status_code == 200
    payment = Payment.objects.get(pk=started.payment.pk)
    assert payment.state in Payment.IN_FLIGHT
    assert amount_owed(account, "USD") == D("100.00")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body: sign(body, secret="whsec_someone_else"), id="forged"),
        pytest.param(lambda body: sign(body, at=int(time.time()) - 3600), id="stale"),
        pytest.param(lambda body: sign(b"{}"), id="another-body"),
        pytest.param(lambda body: "t=1,v1=", id="garbled"),
        pytest.param(lambda body: "", id="unsigned"),
    ],
)
def test_an_event_not_signed_now_by_stripe_changes_nothing(
    client: Client, confirmed_in_browser: Payment, signature: Any
) -> None:
    body = event("payment_intent.succeeded", {"id": confirmed_in_browser.reference})
    response = deliver(client, body, signature(body))
    assert response.status_code == 400
    confirmed_in_browser.refresh_from_db()
    assert confirmed_in_browser.state in Payment.IN_FLIGHT
    assert not WebhookEvent.objects.exists()


@pytest.mark.django_db
def test_a_redelivered_event_is_acted_on_once(
    client: Client, confirmed_in_browser: Payment
) -> None:
    body = event("payment_intent.succeeded", {"id": confirmed_in_browser.reference})
    assert deliver(client, body).content == b"accepted"
    assert deliver(client, body).content == b"duplicate"
    assert WebhookEvent.objects.filter(gateway="stripe").count() == 1
    assert Payment.objects.filter(state=Payment.State.SUCCEEDED).count() == 1


@pytest.mark.django_db
def test_an_event_the_portal_does_not_follow_is_acknowledged(
    client: Client, stripe_gateway: Any
) -> None:
    body = event("customer.updated", {"id": "cus_123"}, event_id="evt_portal_2")
    response = deliver(client, body)
    assert (response.status_code, response.content) == (200, b"unknown")


@pytest.mark.django_db
def test_a_setup_event_verifies_the_card(
    client: Client, account: Account, owner: User, stripe_browser: StripeBrowser
) -> None:
    setup = card_setup_start_for(account=account)
    assert setup is not None
    token = stripe_browser.confirm_setup(setup.client_secret, "4242424242424242")
    method = payment_method_add(
        account=account,
        by=owner,
        token=token,
        address=BillingAddress.of_account(account),
        contact_email="cards@example.com",
    )
    body = event("setup_intent.succeeded", {"id": token}, event_id="evt_portal_3")
    assert deliver(client, body).content == b"accepted"
    method.refresh_from_db()
    assert method.state == PaymentMethod.State.AWAITING_APPROVAL


@pytest.mark.django_db(transaction=True)
def test_stripes_own_signed_webhook_reaches_the_portal(
    live_server: Any,
    localstripe: str,
    account: Account,
    owner: User,
    issue,
    stripe_browser: StripeBrowser,
) -> None:
    """localstripe signs and sends `payment_intent.succeeded` itself, as Stripe does, to the
    endpoint the README tells operators to register; the customer's tab never came back."""
    hook = f"portal-{account.pk}"
    httpx.post(
        f"{localstripe}/_config/webhooks/{hook}",
        data={
            "url": f"{live_server.url}{URL}",
            "secret": WEBHOOK_SECRET,
            "events[]": ["payment_intent.succeeded"],
        },
        timeout=10,
    ).raise_for_status()
    try:
        issue(account, "100.00")
        started = payment_card_start(
            account=account,
            by=owner,
            amount=D("100.00"),
            currency="USD",
            key=new_key(),
            address=BillingAddress.of_account(account),
        )
        stripe_browser.confirm_payment(started.client_secret, "4242424242424242")
        deadline = time.monotonic() + 20
        payment = Payment.objects.get(pk=started.payment.pk)

        def recorded() -> bool:
            # The portal acts on the event first and records it after (card_webhook_receive):
            # on a loaded machine the payment is seen settled a moment before the record.
            return WebhookEvent.objects.filter(
                gateway="stripe",
                event_type="payment_intent.succeeded",
                resource_id=payment.reference,
            ).exists()

        while time.monotonic() < deadline and not (
            payment.state == Payment.State.SUCCEEDED and recorded()
        ):
            time.sleep(0.2)
            payment.refresh_from_db()
        assert payment.state == Payment.State.SUCCEEDED
        assert amount_owed(account, "USD") == D("0.00")
        assert recorded()
    finally:
        # localstripe keeps endpoints for its whole run: this one goes nowhere now.
        httpx.post(
            f"{localstripe}/_config/webhooks/{hook}",
            data={"url": "http://127.0.0.1:9/", "secret": WEBHOOK_SECRET, "events[]": ["none"]},
            timeout=10,
        )


@pytest.mark.django_db
def test_an_event_whose_handling_fails_is_handled_when_stripe_sends_it_again(
    client: Client, confirmed_in_browser: Payment, monkeypatch: pytest.MonkeyPatch
) -> None:
    import payments.one_time

    body = event("payment_intent.succeeded", {"id": confirmed_in_browser.reference})
    settle = payments.one_time.payment_settle_card

    def broken(**kwargs: Any) -> Payment:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(payments.one_time, "payment_settle_card", broken)
    with pytest.raises(RuntimeError):
        deliver(client, body)
    assert not WebhookEvent.objects.exists()
    monkeypatch.setattr(payments.one_time, "payment_settle_card", settle)
    assert deliver(client, body).content == b"accepted"
    confirmed_in_browser.refresh_from_db()
    assert confirmed_in_browser.state == Payment.State.SUCCEEDED
