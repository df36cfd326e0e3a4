"""A fake PayPal REST API for tests: a real HTTP server on 127.0.0.1 answering as PayPal's
sandbox does (the same paths, headers and JSON shapes), with knobs for what PayPal does
rarely: pending and declined captures, lost answers, server errors, expired tokens.

Use the `fake_paypal` fixture from a test module or conftest::

    from tests.payments import paypal_server

    fake_paypal = paypal_server.fake_paypal  # the fixture, under its own name

or start one by hand: ``with FakePayPal() as fake: ...``.

What the customer does on PayPal's page is `approve(order_id)`; what PayPal tells the
portal later is `signed_webhook(event_type, resource)`, which only this fake's
verify-webhook-signature endpoint accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

CAPTURE_STATUSES = ("COMPLETED", "PENDING", "DECLINED")
OPERATIONS = (
    "token",
    "create",
    "get",
    "capture",
    "get_capture",
    "refund",
    "get_refund",
    "verify",
)

# PayPal's currencies, with those that take no decimals; BHD, for one, is not among them.
_CURRENCIES = {
    "AUD", "BRL", "CAD", "CNY", "CZK", "DKK", "EUR", "HKD", "HUF", "ILS", "JPY", "MYR",
    "MXN", "TWD", "NZD", "NOK", "PHP", "PLN", "GBP", "SGD", "SEK", "CHF", "THB", "USD",
}  # fmt: skip
_NO_DECIMALS = {"HUF", "JPY", "TWD"}
_VALUE = re.compile(r"^-?([0-9]+|[0-9]*\.[0-9]+)$")

_APPROVE_PAGE = "https://www.sandbox.paypal.com/checkoutnow?token={}"
_CERT_URL = "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _paypal_id() -> str:
    # PayPal's order, capture and refund ids: 17 upper-case letters and digits.
    return "".join(secrets.choice("ABCDEFGHJKLMNPRSTUVWXY0123456789") for _ in range(17))


class _Answer(Exception):
    """An HTTP answer other than success, raised from deep inside a handler."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


def _error(status: int, name: str, issue: str = "", description: str = "") -> _Answer:
    messages = {
        400: "Request is not well-formed, syntactically incorrect, or violates schema.",
        401: "Authentication failed due to invalid authentication credentials or a missing "
        "Authorization parameter.",
        404: "The specified resource does not exist.",
        422: "The requested action could not be performed, semantically incorrect, or failed "
        "business validation.",
        500: "An internal server error has occurred.",
    }
    body: dict[str, Any] = {
        "name": name,
        "message": messages.get(status, name),
        "debug_id": secrets.token_hex(6),
    }
    if issue:
        body["details"] = [{"issue": issue, "description": description or issue}]
        body["links"] = [
            {
                "href": f"https://developer.paypal.com/docs/api/orders/v2/#error-{issue}",
                "rel": "information_link",
                "method": "GET",
            }
        ]
    return _Answer(status, body)


def _unprocessable(issue: str, description: str = "") -> _Answer:
    return _error(422, "UNPROCESSABLE_ENTITY", issue, description)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received; header names are lower-case."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class _Order:
    id: str
    request: dict[str, Any]
    status: str
    create_time: str
    update_time: str
    capture_id: str = ""


@dataclass
class _Capture:
    id: str
    order_id: str
    status: str
    currency: str
    value: str
    custom_id: str
    reason: str = ""
    refunded: Decimal = Decimal(0)
    create_time: str = field(default_factory=_now)
    update_time: str = field(default_factory=_now)


@dataclass
class _Refund:
    id: str
    capture_id: str
    status: str
    currency: str
    value: str
    reason: str = ""
    create_time: str = field(default_factory=_now)


@dataclass
class _Mishap:
    """What goes wrong with the next request of one kind."""

    stall: float = 0.0  # answer only after this many seconds (the work is done first)
    status: int = 0  # answer with this HTTP error instead
    perform: bool = False  # with `status`: do the work before answering with the error


class FakePayPal:
    """PayPal's REST API on 127.0.0.1, for an adapter under test.

    Knobs (set them before the call they should affect):
      capture_status        "COMPLETED" (default), "PENDING" or "DECLINED", for every order
      set_capture_status()  the same for one order
      decline_as            "INSTRUMENT_DECLINED" (default: HTTP 422, as PayPal answers for a
                            refused PayPal wallet) or "CAPTURE" (HTTP 201 with a DECLINED
                            capture, as for a refused card)
      pending_reason        status_details.reason of PENDING captures ("PENDING_REVIEW")
      refund_status         "COMPLETED" (default) or "PENDING"
      stall_next(op, s)     do the next `op`, then wait `s` seconds before answering
      fail_next(op, status, perform=False)  answer the next `op` with an HTTP error
      expire_tokens()       every issued access token is refused from now on (HTTP 401)
    Operations: "token", "create", "get", "capture", "get_capture", "refund", "get_refund",
    "verify".
    """

    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 (a fake's own credential)
        webhook_id: str = "3WH52018CX417592L",
        token_lifetime: int = 32400,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.webhook_id = webhook_id
        self.token_lifetime = token_lifetime
        self.capture_status = "COMPLETED"
        self.decline_as = "INSTRUMENT_DECLINED"
        self.pending_reason = "PENDING_REVIEW"
        self.refund_status = "COMPLETED"
        self.requests: list[RecordedRequest] = []
        self.orders: dict[str, _Order] = {}
        self.captures: dict[str, _Capture] = {}
        self.refunds: dict[str, _Refund] = {}
        self._tokens: set[str] = set()
        self._capture_status_of: dict[str, str] = {}
        self._answers: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
        self._mishaps: dict[str, _Mishap] = {}
        self._transmissions: dict[str, bytes] = {}
        self._signing_key = secrets.token_bytes(32)
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # Lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakePayPal is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakePayPal:
        self._stopping.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for at most one poll
            name="fake-paypal",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes stalled answers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> FakePayPal:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Test controls

    def approve(self, order_id: str) -> None:
        """What the customer does on PayPal's page: approve the order."""
        with self._lock:
            order = self.orders[order_id]
            if order.status not in ("CREATED", "PAYER_ACTION_REQUIRED"):
                raise ValueError(f"{order_id} is {order.status}, not awaiting approval")
            order.status = "APPROVED"
            order.update_time = _now()

    def set_capture_status(self, order_id: str, status: str) -> None:
        if status not in CAPTURE_STATUSES:
            raise ValueError(status)
        with self._lock:
            self._capture_status_of[order_id] = status

    def complete_capture(self, capture_id: str) -> dict[str, Any]:
        """A PENDING capture clears (PayPal then sends PAYMENT.CAPTURE.COMPLETED); returns
        the capture resource as that webhook carries it."""
        with self._lock:
            capture = self.captures[capture_id]
            if capture.status != "PENDING":
                raise ValueError(f"{capture_id} is {capture.status}, not PENDING")
            capture.status = "COMPLETED"
            capture.reason = ""
            capture.update_time = _now()
            return self.capture_resource(capture_id)

    def stall_next(self, operation: str, seconds: float) -> None:
        """Carry out the next `operation`, then answer only after `seconds` (longer than the
        client waits, to lose the answer)."""
        self._mishap(operation).stall = seconds

    def fail_next(self, operation: str, status: int = 500, *, perform: bool = False) -> None:
        """Answer the next `operation` with HTTP `status`, having carried it out if `perform`."""
        mishap = self._mishap(operation)
        mishap.status = status
        mishap.perform = perform

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests of `method` whose path starts with `path`."""
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def order_json(self, order_id: str) -> dict[str, Any]:
        with self._lock:
            return self._order_json(self.orders[order_id], full=True)

    def capture_resource(self, capture_id: str) -> dict[str, Any]:
        """A capture as GET /v2/payments/captures/{id} and PAYMENT.CAPTURE.* webhooks show it:
        the order's id is at supplementary_data.related_ids.order_id."""
        with self._lock:
            capture = self.captures[capture_id]
            resource = self._capture_json(capture)
            resource["supplementary_data"] = {"related_ids": {"order_id": capture.order_id}}
            return resource

    def signed_webhook(
        self, event_type: str, resource: dict[str, Any], *, summary: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """A webhook delivery as PayPal would POST it: its headers and its body.

        The signature covers transmission id, time, webhook id and a CRC32 of the body, as
        PayPal's does; here it is an HMAC with a key only this fake knows, so the fake's
        verify-webhook-signature answers SUCCESS for exactly these headers and this body.
        """
        resource_type = {
            "PAYMENT.CAPTURE": "capture",
            "PAYMENT.REFUND": "refund",
            "CHECKOUT.ORDER": "checkout-order",
        }.get(".".join(event_type.split(".")[:2]), "")
        event_id = f"WH-{_paypal_id()}-{_paypal_id()}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": _now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary or f"{event_type} for {resource.get('id', '')}",
            "resource": resource,
            "links": [
                {
                    "href": f"{self.url}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v1/notifications/webhooks-events/{event_id}/resend",
                    "rel": "resend",
                    "method": "POST",
                },
            ],
        }
        # PayPal's bodies are compact and keep non-ASCII characters as they are.
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        transmission_id = str(uuid.uuid4())
        transmission_time = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self._lock:
            self._transmissions[transmission_id] = body
        headers = {
            "Content-Type": "application/json",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-AUTH-VERSION": "v2",
            "PAYPAL-CERT-URL": _CERT_URL,
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-SIG": self._signature(
                transmission_id, transmission_time, self.webhook_id, body
            ),
            "PAYPAL-TRANSMISSION-TIME": transmission_time,
        }
        return headers, body

    # Internals

    def _mishap(self, operation: str) -> _Mishap:
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; one of {OPERATIONS}")
        with self._lock:
            return self._mishaps.setdefault(operation, _Mishap())

    def _signature(self, transmission_id: str, time: str, webhook_id: str, body: bytes) -> str:
        message = f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()
        return base64.b64encode(
            hmac.new(self._signing_key, message, hashlib.sha256).digest()
        ).decode()

    def _route(self, method: str, path: str) -> tuple[str, list[str]]:
        routes = [
            ("POST", r"/v1/oauth2/token", "token"),
            ("POST", r"/v2/checkout/orders", "create"),
            ("GET", r"/v2/checkout/orders/([^/]+)", "get"),
            ("POST", r"/v2/checkout/orders/([^/]+)/capture", "capture"),
            ("GET", r"/v2/payments/captures/([^/]+)", "get_capture"),
            ("POST", r"/v2/payments/captures/([^/]+)/refund", "refund"),
            ("GET", r"/v2/payments/refunds/([^/]+)", "get_refund"),
            ("POST", r"/v1/notifications/verify-webhook-signature", "verify"),
        ]
        for route_method, pattern, operation in routes:
            match = re.fullmatch(pattern, path)
            if match and method == route_method:
                return operation, list(match.groups())
        raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"No route for {path}")

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        """The answer to one request; called on the server's threads."""
        with self._lock:
            self.requests.append(request)
        try:
            operation, args = self._route(request.method, request.path)
        except _Answer as answer:
            return answer.status, answer.body
        with self._lock:
            mishap = self._mishaps.pop(operation, None) or _Mishap()
        if mishap.status and not mishap.perform:
            return mishap.status, _error(mishap.status, "INTERNAL_SERVER_ERROR").body
        try:
            with self._lock:
                if operation != "token":
                    self._authenticate(request)
                status, body = getattr(self, f"_{operation}")(request, *args)
        except _Answer as answer:
            status, body = answer.status, answer.body
        if mishap.status:
            return mishap.status, _error(mishap.status, "INTERNAL_SERVER_ERROR").body
        if mishap.stall:
            self._stopping.wait(mishap.stall)
        return status, body

    def _authenticate(self, request: RecordedRequest) -> None:
        authorization = request.header("Authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if scheme != "Bearer" or token not in self._tokens:
            raise _error(401, "AUTHENTICATION_FAILURE")

    def _token(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if (request.header("Authorization") or "") != f"Basic {expected}":
            return 401, {
                "error": "invalid_client",
                "error_description": "Client Authentication failed",
            }
        form = parse_qs(request.body.decode())
        if form.get("grant_type") != ["client_credentials"]:
            return 400, {
                "error": "unsupported_grant_type",
                "error_description": "Grant Type is NULL",
            }
        token = "A21AA" + secrets.token_urlsafe(48)
        self._tokens.add(token)
        return 200, {
            "scope": "https://uri.paypal.com/services/payments/payment",
            "access_token": token,
            "token_type": "Bearer",
            "app_id": "APP-80W284485P519543T",
            "expires_in": self.token_lifetime,
            "nonce": f"{_now()}{secrets.token_urlsafe(16)}",
        }

    def _replay(self, key: tuple[str, str]) -> tuple[int, dict[str, Any]] | None:
        # PayPal answers a repeated PayPal-Request-Id with the first answer, acting once.
        return self._answers.get(key) if key[1] else None

    def _remember(
        self, key: tuple[str, str], answer: tuple[int, dict[str, Any]]
    ) -> tuple[int, dict[str, Any]]:
        if key[1]:
            self._answers[key] = answer
        return answer

    @staticmethod
    def _minimal(request: RecordedRequest, body: dict[str, Any]) -> dict[str, Any]:
        if "return=representation" in (request.header("Prefer") or ""):
            return body
        return {key: body[key] for key in ("id", "status", "links") if key in body}

    # Orders

    def _create(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        request_id = request.header("PayPal-Request-Id") or ""
        earlier = self._answers.get(("create", request_id)) if request_id else None
        if earlier is not None:
            order = self.orders[earlier[1]["id"]]
            return 200, self._minimal(request, self._order_json(order, full=True))
        data = request.json
        if not isinstance(data, dict) or data.get("intent") not in ("CAPTURE", "AUTHORIZE"):
            raise _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "intent")
        units = data.get("purchase_units")
        if not isinstance(units, list) or not units or not isinstance(units[0], dict):
            raise _error(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", "purchase_units")
        amount = units[0].get("amount") or {}
        self._check_amount(amount.get("currency_code"), amount.get("value"))
        if len(str(units[0].get("description", ""))) > 127:
            raise _error(400, "INVALID_REQUEST", "INVALID_STRING_LENGTH", "description")
        approval_flow = "experience_context" in (data.get("payment_source") or {}).get("paypal", {})
        order = _Order(
            id=_paypal_id(),
            request=data,
            # With payment_source.paypal.experience_context PayPal answers
            # PAYER_ACTION_REQUIRED and a "payer-action" link; without, CREATED and "approve".
            status="PAYER_ACTION_REQUIRED" if approval_flow else "CREATED",
            create_time=_now(),
            update_time=_now(),
        )
        self.orders[order.id] = order
        body = self._order_json(order, full=True)
        self._remember(("create", request_id), (200, {"id": order.id}))
        return 200, self._minimal(request, body)

    def _check_amount(self, currency: Any, value: Any) -> None:
        if currency not in _CURRENCIES:
            raise _unprocessable("CURRENCY_NOT_SUPPORTED", f"{currency} is not supported")
        if not isinstance(value, str) or not _VALUE.match(value):
            raise _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX", "amount.value")
        if currency in _NO_DECIMALS and "." in value:
            raise _unprocessable("DECIMALS_NOT_SUPPORTED", f"{currency} has no decimals")
        if "." in value and len(value.split(".")[1]) > 2:
            raise _unprocessable("DECIMAL_PRECISION", "at most two decimal places")
        if Decimal(value) <= 0:
            raise _unprocessable("CANNOT_BE_ZERO_OR_NEGATIVE", "amount.value")

    def _get(self, request: RecordedRequest, order_id: str) -> tuple[int, dict[str, Any]]:
        order = self.orders.get(order_id)
        if order is None:
            raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", order_id)
        return 200, self._order_json(order, full=True)

    def _capture(self, request: RecordedRequest, order_id: str) -> tuple[int, dict[str, Any]]:
        request_id = request.header("PayPal-Request-Id") or ""
        key = (f"capture:{order_id}", request_id)
        replay = self._replay(key)
        if replay is not None:
            return replay
        order = self.orders.get(order_id)
        if order is None:
            raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", order_id)
        if order.status == "COMPLETED":
            raise _unprocessable("ORDER_ALREADY_CAPTURED", "Order already captured.")
        if order.status != "APPROVED":
            raise _unprocessable(
                "ORDER_NOT_APPROVED", "Payer has not yet approved the Order for payment."
            )
        status = self._capture_status_of.get(order_id, self.capture_status)
        if status == "DECLINED" and self.decline_as == "INSTRUMENT_DECLINED":
            # The order stays APPROVED: the customer may go back and pick another funding.
            raise _unprocessable(
                "INSTRUMENT_DECLINED",
                "The instrument presented was either declined by the processor or bank, or "
                "it can't be used for this payment.",
            )
        amount = order.request["purchase_units"][0]["amount"]
        capture = _Capture(
            id=_paypal_id(),
            order_id=order.id,
            status=status,
            currency=amount["currency_code"],
            value=amount["value"],
            custom_id=str(order.request["purchase_units"][0].get("custom_id", "")),
            reason=self.pending_reason if status == "PENDING" else "",
        )
        self.captures[capture.id] = capture
        # A declined capture completes the order too: PayPal's docs say to check the
        # capture's status, not the order's.
        order.status = "COMPLETED"
        order.capture_id = capture.id
        order.update_time = _now()
        body = self._minimal(request, self._order_json(order, full=True))
        return self._remember(key, (201, body))

    def _order_json(self, order: _Order, *, full: bool) -> dict[str, Any]:
        unit = order.request["purchase_units"][0]
        purchase_unit: dict[str, Any] = {
            key: unit[key] for key in ("reference_id", "custom_id", "description") if key in unit
        }
        purchase_unit["amount"] = unit["amount"]
        purchase_unit["payee"] = {
            "email_address": "merchant@example.com",
            "merchant_id": "C7CYMKZDG8D6E",
        }
        if order.capture_id:
            capture = self._capture_json(self.captures[order.capture_id])
            purchase_unit["payments"] = {"captures": [capture]}
        body: dict[str, Any] = {
            "id": order.id,
            "intent": order.request["intent"],
            "status": order.status,
            "purchase_units": [purchase_unit],
            "create_time": order.create_time,
            "update_time": order.update_time,
        }
        if order.status in ("APPROVED", "COMPLETED"):
            payer = {
                "name": {"given_name": "Xiaoming", "surname": "Wang"},
                "email_address": "buyer@example.com",
                "payer_id": "QYR5Z8XDVJNXQ",
            }
            body["payer"] = payer
            body["payment_source"] = {
                "paypal": {
                    "email_address": payer["email_address"],
                    "account_id": payer["payer_id"],
                    "account_status": "VERIFIED",
                    "name": payer["name"],
                }
            }
        links = [
            {"href": f"{self.url}/v2/checkout/orders/{order.id}", "rel": "self", "method": "GET"}
        ]
        if order.status in ("CREATED", "PAYER_ACTION_REQUIRED"):
            rel = "payer-action" if order.status == "PAYER_ACTION_REQUIRED" else "approve"
            links.append({"href": _APPROVE_PAGE.format(order.id), "rel": rel, "method": "GET"})
        if order.status == "APPROVED":
            links.append(
                {
                    "href": f"{self.url}/v2/checkout/orders/{order.id}/capture",
                    "rel": "capture",
                    "method": "POST",
                }
            )
        body["links"] = links
        return body

    # Payments

    def _capture_json(self, capture: _Capture) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": capture.id,
            "status": capture.status,
            "amount": {"currency_code": capture.currency, "value": capture.value},
            "final_capture": True,
            "seller_protection": {
                "status": "ELIGIBLE",
                "dispute_categories": ["ITEM_NOT_RECEIVED", "UNAUTHORIZED_TRANSACTION"],
            },
            "custom_id": capture.custom_id,
            "links": [
                {
                    "href": f"{self.url}/v2/payments/captures/{capture.id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v2/payments/captures/{capture.id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {
                    "href": f"{self.url}/v2/checkout/orders/{capture.order_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
            "create_time": capture.create_time,
            "update_time": capture.update_time,
        }
        if capture.reason:
            body["status_details"] = {"reason": capture.reason}
        return body

    def _get_capture(self, request: RecordedRequest, capture_id: str) -> tuple[int, dict[str, Any]]:
        if capture_id not in self.captures:
            raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", capture_id)
        return 200, self.capture_resource(capture_id)

    def _refund(self, request: RecordedRequest, capture_id: str) -> tuple[int, dict[str, Any]]:
        request_id = request.header("PayPal-Request-Id") or ""
        key = (f"refund:{capture_id}", request_id)
        replay = self._replay(key)
        if replay is not None:
            return replay
        capture = self.captures.get(capture_id)
        if capture is None:
            raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", capture_id)
        if capture.status == "PENDING":
            raise _unprocessable(
                "PENDING_CAPTURE", "Cannot initiate a refund as the capture is pending."
            )
        if capture.status == "REFUNDED":
            raise _unprocessable(
                "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded"
            )
        if capture.status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            raise _unprocessable("REFUND_NOT_ALLOWED", "Capture cannot be refunded.")
        remaining = Decimal(capture.value) - capture.refunded
        amount = (request.json or {}).get("amount") if isinstance(request.json, dict) else None
        if amount is None:
            currency, value = capture.currency, str(remaining)
        else:
            currency, value = amount.get("currency_code"), amount.get("value")
            self._check_amount(currency, value)
        if currency != capture.currency:
            raise _unprocessable(
                "REFUND_CAPTURE_CURRENCY_MISMATCH",
                "Refund must be in the same currency as the capture",
            )
        try:
            requested = Decimal(value)
        except InvalidOperation:
            raise _error(400, "INVALID_REQUEST", "INVALID_PARAMETER_SYNTAX", "amount") from None
        if requested > remaining:
            raise _unprocessable(
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has "
                "not yet been refunded.",
            )
        refund = _Refund(
            id=_paypal_id(),
            capture_id=capture.id,
            status=self.refund_status,
            currency=currency,
            value=value,
            reason="ECHECK" if self.refund_status == "PENDING" else "",
        )
        self.refunds[refund.id] = refund
        capture.refunded += requested
        capture.status = (
            "REFUNDED" if capture.refunded == Decimal(capture.value) else "PARTIALLY_REFUNDED"
        )
        capture.update_time = _now()
        body = self._minimal(request, self._refund_json(refund))
        return self._remember(key, (201, body))

    def _refund_json(self, refund: _Refund) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": refund.id,
            "status": refund.status,
            "amount": {"currency_code": refund.currency, "value": refund.value},
            "create_time": refund.create_time,
            "update_time": refund.create_time,
            "links": [
                {
                    "href": f"{self.url}/v2/payments/refunds/{refund.id}",
                    "rel": "self",
                    "method": "GET",
                },
                {
                    "href": f"{self.url}/v2/payments/captures/{refund.capture_id}",
                    "rel": "up",
                    "method": "GET",
                },
            ],
        }
        if refund.reason:
            body["status_details"] = {"reason": refund.reason}
        return body

    def _get_refund(self, request: RecordedRequest, refund_id: str) -> tuple[int, dict[str, Any]]:
        if refund_id not in self.refunds:
            raise _error(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", refund_id)
        return 200, self._refund_json(self.refunds[refund_id])

    # Webhooks

    def _verify(self, request: RecordedRequest) -> tuple[int, dict[str, Any]]:
        data = request.json
        required = (
            "auth_algo",
            "cert_url",
            "transmission_id",
            "transmission_sig",
            "transmission_time",
            "webhook_id",
            "webhook_event",
        )
        if not isinstance(data, dict) or any(not data.get(name) for name in required):
            raise _error(400, "VALIDATION_ERROR", "MISSING_REQUIRED_PARAMETER")
        body = self._transmissions.get(str(data["transmission_id"]))
        genuine = (
            body is not None
            and data["webhook_id"] == self.webhook_id
            and data["auth_algo"] == "SHA256withRSA"
            and data["cert_url"] == _CERT_URL
            and data["webhook_event"] == json.loads(body)
            and hmac.compare_digest(
                str(data["transmission_sig"]),
                self._signature(
                    str(data["transmission_id"]),
                    str(data["transmission_time"]),
                    self.webhook_id,
                    body,
                ),
            )
        )
        return 200, {"verification_status": "SUCCESS" if genuine else "FAILURE"}


def _handler_for(fake: FakePayPal) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakePayPal/1.0"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = None
            request = RecordedRequest(
                method=self.command,
                path=parts.path,
                query=parts.query,
                headers={name.lower(): value for name, value in self.headers.items()},
                body=raw,
                json=parsed,
            )
            status, body = fake.handle(request)
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Paypal-Debug-Id", str(body.get("debug_id", "f0e1d2c3b4a59")))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a stalled answer)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_paypal() -> Iterator[FakePayPal]:
    """A started FakePayPal, stopped after the test."""
    fake = FakePayPal()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
