"""The PayPal adapter against a fake PayPal on 127.0.0.1: what it sends, and how it reads
PayPal's answers, refusals and silences."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from decimal import Decimal

import pytest

from payments.gateways.base import (
    DeclineCategory,
    GatewayTimeout,
    GatewayUnavailable,
    Outcome,
    PayPalGateway,
    PayPalOrderStatus,
)
from payments.gateways.paypal import PayPalRestGateway, paypal_amount, paypal_locale
from tests.payments import paypal_server
from tests.payments.paypal_server import FakePayPal

fake_paypal = paypal_server.fake_paypal


@pytest.fixture
def gateway(fake_paypal: FakePayPal) -> Iterator[PayPalRestGateway]:
    gateway = PayPalRestGateway(
        api_url=fake_paypal.url,
        client_id=fake_paypal.client_id,
        client_secret=fake_paypal.client_secret,
        webhook_id=fake_paypal.webhook_id,
        timeout=1.0,
    )
    yield gateway
    gateway.close()


def _create(gateway: PayPalRestGateway, request_id: str = "order-req-1", **overrides):
    fields = {
        "amount": Decimal("10.00"),
        "currency": "USD",
        "reference": "INV-2026-0001",
        "description": "Invoice INV-2026-0001",
        "return_url": "https://portal.example.com/pay/paypal/return",
        "cancel_url": "https://portal.example.com/pay/paypal/cancel",
        "locale": "en",
        "request_id": request_id,
    }
    fields.update(overrides)
    return gateway.create_order(**fields)


def _approved_order(gateway: PayPalRestGateway, fake: FakePayPal, request_id: str = "o-1") -> str:
    order = _create(gateway, request_id)
    fake.approve(order.id)
    return order.id


def test_the_adapter_implements_the_paypal_gateway_interface(gateway: PayPalRestGateway) -> None:
    as_protocol: PayPalGateway = gateway
    assert as_protocol.name == "paypal"


def test_create_order_returns_the_payer_action_url_and_sends_a_request_id(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order = _create(gateway, "create-1", description="x" * 200, locale="zh-hans")

    assert order.status == PayPalOrderStatus.PAYER_ACTION_REQUIRED
    assert order.approve_url == f"https://www.sandbox.paypal.com/checkoutnow?token={order.id}"
    assert order.capture is None
    (create,) = fake_paypal.requests_to("POST", "/v2/checkout/orders")
    assert create.header("PayPal-Request-Id") == "create-1"
    assert create.header("Prefer") == "return=representation"
    assert create.json == {
        "intent": "CAPTURE",
        "purchase_units": [
            {
                "reference_id": "INV-2026-0001",
                "custom_id": "INV-2026-0001",
                "description": "x" * 127,
                "amount": {"currency_code": "USD", "value": "10.00"},
            }
        ],
        "payment_source": {
            "paypal": {
                "experience_context": {
                    "return_url": "https://portal.example.com/pay/paypal/return",
                    "cancel_url": "https://portal.example.com/pay/paypal/cancel",
                    "user_action": "PAY_NOW",
                    "shipping_preference": "NO_SHIPPING",
                    "locale": "zh-CN",
                }
            }
        },
    }


def test_the_same_request_id_twice_gives_the_same_order(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    first = _create(gateway, "same-request")
    second = _create(gateway, "same-request")
    other = _create(gateway, "another-request")

    assert second.id == first.id
    assert other.id != first.id
    assert len(fake_paypal.orders) == 2


def test_capture_before_approval_fails_and_moves_no_money(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order = _create(gateway)

    result = gateway.capture_order(order_id=order.id, request_id="cap-1")

    assert result.outcome == Outcome.FAILED
    assert result.message == "ORDER_NOT_APPROVED"
    assert not fake_paypal.captures


def test_an_approved_order_captures(gateway: PayPalRestGateway, fake_paypal: FakePayPal) -> None:
    order_id = _approved_order(gateway, fake_paypal)

    result = gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert result.outcome == Outcome.SUCCEEDED
    assert result.reference in fake_paypal.captures
    assert fake_paypal.captures[result.reference].order_id == order_id
    assert result.extra["order_status"] == "COMPLETED"
    (capture,) = fake_paypal.requests_to("POST", f"/v2/checkout/orders/{order_id}/capture")
    assert capture.header("PayPal-Request-Id") == "cap-1"
    assert capture.header("Content-Type") == "application/json"
    assert capture.json == {}


def test_a_pending_capture_is_pending_until_paypal_completes_it(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    fake_paypal.set_capture_status(order_id, "PENDING")

    result = gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert result.outcome == Outcome.PENDING
    assert result.message == "PENDING_REVIEW"
    assert result.reference
    fake_paypal.complete_capture(result.reference)
    later = gateway.get_order(order_id=order_id)
    assert later.capture is not None
    assert later.capture.outcome == Outcome.SUCCEEDED
    assert later.capture.reference == result.reference


@pytest.mark.parametrize("decline_as", ["INSTRUMENT_DECLINED", "CAPTURE"])
def test_a_declined_capture_is_declined(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal, decline_as: str
) -> None:
    fake_paypal.capture_status = "DECLINED"
    fake_paypal.decline_as = decline_as
    order_id = _approved_order(gateway, fake_paypal)

    result = gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert result.outcome == Outcome.DECLINED
    assert result.decline == DeclineCategory.GENERIC


def test_capturing_twice_with_the_same_request_id_captures_once(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)

    first = gateway.capture_order(order_id=order_id, request_id="cap-1")
    second = gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert first.outcome == second.outcome == Outcome.SUCCEEDED
    assert first.reference == second.reference
    assert len(fake_paypal.captures) == 1


def test_capturing_again_with_a_new_request_id_reports_the_earlier_capture(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    first = gateway.capture_order(order_id=order_id, request_id="cap-1")

    again = gateway.capture_order(order_id=order_id, request_id="cap-2")

    assert again.outcome == Outcome.SUCCEEDED
    assert again.reference == first.reference
    assert len(fake_paypal.captures) == 1


def test_get_order_after_capture_shows_it_completed_with_its_capture(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    assert gateway.get_order(order_id=order_id).status == PayPalOrderStatus.APPROVED
    captured = gateway.capture_order(order_id=order_id, request_id="cap-1")

    order = gateway.get_order(order_id=order_id)

    assert order.status == PayPalOrderStatus.COMPLETED
    assert order.capture is not None
    assert order.capture.outcome == Outcome.SUCCEEDED
    assert order.capture.reference == captured.reference


def test_a_refund_succeeds_and_cannot_exceed_the_capture(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    capture = gateway.capture_order(order_id=order_id, request_id="cap-1")

    refund = gateway.refund(
        charge_reference=capture.reference,
        amount=Decimal("4.00"),
        currency="USD",
        idempotency_key="refund-1",
    )
    again = gateway.refund(
        charge_reference=capture.reference,
        amount=Decimal("4.00"),
        currency="USD",
        idempotency_key="refund-1",
    )
    too_much = gateway.refund(
        charge_reference=capture.reference,
        amount=Decimal("6.01"),
        currency="USD",
        idempotency_key="refund-2",
    )

    assert refund.outcome == Outcome.SUCCEEDED
    assert refund.reference in fake_paypal.refunds
    assert again.reference == refund.reference
    assert len(fake_paypal.refunds) == 1
    assert too_much.outcome == Outcome.FAILED
    assert too_much.message == "REFUND_AMOUNT_EXCEEDED"
    sent = fake_paypal.requests_to("POST", f"/v2/payments/captures/{capture.reference}/refund")
    assert [r.header("PayPal-Request-Id") for r in sent] == ["refund-1", "refund-1", "refund-2"]
    assert sent[0].json == {"amount": {"value": "4.00", "currency_code": "USD"}}


def test_the_access_token_is_fetched_once_and_renewed_when_paypal_refuses_it(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order = _create(gateway)
    gateway.get_order(order_id=order.id)
    gateway.get_order(order_id=order.id)
    (token_request,) = fake_paypal.requests_to("POST", "/v1/oauth2/token")
    assert token_request.body == b"grant_type=client_credentials"
    assert token_request.header("Authorization").startswith("Basic ")

    fake_paypal.expire_tokens()
    fake_paypal.approve(order.id)
    result = gateway.capture_order(order_id=order.id, request_id="cap-1")

    assert result.outcome == Outcome.SUCCEEDED
    assert len(fake_paypal.requests_to("POST", "/v1/oauth2/token")) == 2
    captures = fake_paypal.requests_to("POST", f"/v2/checkout/orders/{order.id}/capture")
    assert [r.header("PayPal-Request-Id") for r in captures] == ["cap-1", "cap-1"]
    assert len(fake_paypal.captures) == 1


def test_wrong_credentials_make_paypal_unavailable_without_revealing_the_secret(
    fake_paypal: FakePayPal,
) -> None:
    gateway = PayPalRestGateway(
        api_url=fake_paypal.url,
        client_id=fake_paypal.client_id,
        client_secret="not-the-secret",
        webhook_id=fake_paypal.webhook_id,
    )

    with pytest.raises(GatewayUnavailable) as raised:
        _create(gateway)

    assert "invalid_client" in str(raised.value)
    assert "not-the-secret" not in str(raised.value)
    assert raised.value.__cause__ is None
    assert not fake_paypal.orders


def test_a_lost_capture_answer_raises_gateway_timeout_and_the_capture_can_be_looked_up(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    fake_paypal.stall_next("capture", 3.0)

    with pytest.raises(GatewayTimeout) as raised:
        gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert "Bearer" not in str(raised.value)
    order = gateway.get_order(order_id=order_id)
    assert order.status == PayPalOrderStatus.COMPLETED
    assert order.capture is not None and order.capture.outcome == Outcome.SUCCEEDED
    # Asking again with the same request id tells the same capture, without a second one.
    assert gateway.capture_order(order_id=order_id, request_id="cap-1") == order.capture
    assert len(fake_paypal.captures) == 1


def test_a_server_error_on_capture_is_a_timeout_the_capture_may_have_happened(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    fake_paypal.fail_next("capture", 500, perform=True)

    with pytest.raises(GatewayTimeout):
        gateway.capture_order(order_id=order_id, request_id="cap-1")

    assert len(fake_paypal.captures) == 1


def test_a_server_error_on_create_is_unavailable(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    fake_paypal.fail_next("create", 503)

    with pytest.raises(GatewayUnavailable):
        _create(gateway)


def test_a_server_error_on_refund_is_a_timeout(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    capture = gateway.capture_order(order_id=order_id, request_id="cap-1")
    fake_paypal.fail_next("refund", 502, perform=True)

    with pytest.raises(GatewayTimeout):
        gateway.refund(
            charge_reference=capture.reference,
            amount=Decimal("10.00"),
            currency="USD",
            idempotency_key="refund-1",
        )


def test_paypal_down_is_unavailable_for_every_call(fake_paypal: FakePayPal) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        unused_port = probe.getsockname()[1]
    gateway = PayPalRestGateway(
        api_url=f"http://127.0.0.1:{unused_port}",
        client_id="id",
        client_secret="secret",
        webhook_id="WH",
        timeout=1.0,
    )

    with pytest.raises(GatewayUnavailable):
        _create(gateway)
    with pytest.raises(GatewayUnavailable):
        gateway.capture_order(order_id="5O190127TN364715T", request_id="cap-1")
    with pytest.raises(GatewayUnavailable):
        gateway.get_order(order_id="5O190127TN364715T")


def test_paypal_going_down_after_the_token_is_unavailable(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order = _create(gateway)
    fake_paypal.stop()

    with pytest.raises(GatewayUnavailable):
        gateway.capture_order(order_id=order.id, request_id="cap-1")


def test_a_correctly_signed_webhook_gives_its_event(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order_id = _approved_order(gateway, fake_paypal)
    capture = gateway.capture_order(order_id=order_id, request_id="cap-1")
    resource = fake_paypal.capture_resource(capture.reference)
    resource["custom_id"] = "发票 INV-2026-0001"  # non-ASCII survives the round trip
    headers, body = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", resource)
    # Django's request.headers is case-insensitive; a plain dict may come in any case.
    lower = {name.lower(): value for name, value in headers.items()}

    event = gateway.verify_webhook(headers=lower, body=body)

    assert event is not None
    assert event["event_type"] == "PAYMENT.CAPTURE.COMPLETED"
    assert event["resource"]["id"] == capture.reference
    assert event["resource"]["supplementary_data"]["related_ids"]["order_id"] == order_id
    (verify,) = fake_paypal.requests_to("POST", "/v1/notifications/verify-webhook-signature")
    assert verify.json["webhook_id"] == fake_paypal.webhook_id
    assert verify.json["transmission_id"] == headers["PAYPAL-TRANSMISSION-ID"]
    assert body in verify.body  # the event goes back as it came


def test_a_forged_webhook_is_refused(gateway: PayPalRestGateway, fake_paypal: FakePayPal) -> None:
    headers, body = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})
    forged_signature = {**headers, "PAYPAL-TRANSMISSION-SIG": "c2lnbmVkIGJ5IG5vYm9keQ=="}
    event = json.loads(body)
    event["resource"]["id"] = "CAP2"
    forged_body = json.dumps(event).encode()

    assert gateway.verify_webhook(headers=forged_signature, body=body) is None
    assert gateway.verify_webhook(headers=headers, body=forged_body) is None
    assert gateway.verify_webhook(headers=headers, body=body) is not None


def test_a_webhook_for_another_webhook_id_is_refused(fake_paypal: FakePayPal) -> None:
    headers, body = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})
    gateway = PayPalRestGateway(
        api_url=fake_paypal.url,
        client_id=fake_paypal.client_id,
        client_secret=fake_paypal.client_secret,
        webhook_id="9XL90610J3647323C",
    )

    assert gateway.verify_webhook(headers=headers, body=body) is None


@pytest.mark.parametrize(
    "missing",
    [
        "PAYPAL-AUTH-ALGO",
        "PAYPAL-CERT-URL",
        "PAYPAL-TRANSMISSION-ID",
        "PAYPAL-TRANSMISSION-SIG",
        "PAYPAL-TRANSMISSION-TIME",
    ],
)
def test_a_webhook_without_paypals_headers_is_refused_without_asking_paypal(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal, missing: str
) -> None:
    headers, body = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})
    del headers[missing]

    assert gateway.verify_webhook(headers=headers, body=body) is None
    assert not fake_paypal.requests_to("POST", "/v1/notifications/verify-webhook-signature")


@pytest.mark.parametrize("body", [b"", b"{not json", b"[1, 2]", b"\xff\xfe{}"])
def test_a_malformed_webhook_body_is_refused(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal, body: bytes
) -> None:
    headers, _ = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})

    assert gateway.verify_webhook(headers=headers, body=body) is None


def test_a_webhook_is_refused_when_paypal_cannot_confirm_it(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    headers, body = fake_paypal.signed_webhook("PAYMENT.CAPTURE.COMPLETED", {"id": "CAP1"})
    fake_paypal.fail_next("verify", 500)
    assert gateway.verify_webhook(headers=headers, body=body) is None

    fake_paypal.stall_next("verify", 3.0)
    assert gateway.verify_webhook(headers=headers, body=body) is None


@pytest.mark.parametrize(
    ("amount", "currency", "value"),
    [
        (Decimal("10"), "USD", "10.00"),
        (Decimal("10.5"), "USD", "10.50"),
        (Decimal("1234.56"), "EUR", "1234.56"),
        (Decimal("1000"), "JPY", "1000"),
        (Decimal("1000.00"), "JPY", "1000"),
        (Decimal("1.25"), "BHD", "1.250"),
    ],
)
def test_amounts_are_written_with_the_currencys_decimals(
    amount: Decimal, currency: str, value: str
) -> None:
    assert paypal_amount(amount, currency) == value


def test_an_amount_finer_than_the_currency_is_never_rounded() -> None:
    with pytest.raises(ValueError):
        paypal_amount(Decimal("10.005"), "USD")
    with pytest.raises(ValueError):
        paypal_amount(Decimal("1000.5"), "JPY")


def test_a_yen_order_reaches_paypal_without_decimals(
    gateway: PayPalRestGateway, fake_paypal: FakePayPal
) -> None:
    order = _create(gateway, amount=Decimal("1000"), currency="JPY")

    assert fake_paypal.order_json(order.id)["purchase_units"][0]["amount"] == {
        "currency_code": "JPY",
        "value": "1000",
    }


def test_paypal_refuses_a_currency_it_does_not_support(gateway: PayPalRestGateway) -> None:
    with pytest.raises(GatewayUnavailable) as raised:
        _create(gateway, amount=Decimal("1.250"), currency="BHD")

    assert "CURRENCY_NOT_SUPPORTED" in str(raised.value)


@pytest.mark.parametrize(
    ("language", "locale"),
    [("en", "en-US"), ("zh-hans", "zh-CN"), ("zh-Hans", "zh-CN"), ("de-at", "de-AT"), ("xx", None)],
)
def test_django_languages_become_paypal_locales(language: str, locale: str | None) -> None:
    assert paypal_locale(language) == locale
