"""The PayPal adapter: PayPal's REST API (Orders v2, Payments v2, webhook verification).

Every call that changes something carries a PayPal-Request-Id, so repeating it after a lost
answer changes nothing more. The adapter turns PayPal's answers, errors and silences into the
gateway interface's terms: GatewayUnavailable when PayPal certainly did nothing,
GatewayTimeout when it may have acted and the caller must look the outcome up later.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
from django.conf import settings

from invoices.money import has_valid_precision, quantum

from .base import (
    DeclineCategory,
    GatewayResult,
    GatewayTimeout,
    GatewayUnavailable,
    Outcome,
    PayPalOrder,
    PayPalOrderStatus,
)

logger = logging.getLogger(__name__)

# Errors raised before any byte of the request reached PayPal: it cannot have acted on it.
_NOT_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)

# Capture refusals (HTTP 422 `details[].issue`) that mean the payer's money was refused: the
# customer may go back to PayPal and pay another way. Every other refusal is a FAILED capture.
_DECLINE_ISSUES: dict[str, DeclineCategory] = {
    "INSTRUMENT_DECLINED": DeclineCategory.GENERIC,
    "PAYER_ACTION_REQUIRED": DeclineCategory.GENERIC,
    "REDIRECT_PAYER_FOR_ALTERNATE_FUNDING": DeclineCategory.GENERIC,
    "PAYER_CANNOT_PAY": DeclineCategory.GENERIC,
    "PAYER_ACCOUNT_LOCKED_OR_CLOSED": DeclineCategory.GENERIC,
    "PAYER_ACCOUNT_RESTRICTED": DeclineCategory.GENERIC,
    "TRANSACTION_REFUSED": DeclineCategory.GENERIC,
    "TRANSACTION_LIMIT_EXCEEDED": DeclineCategory.GENERIC,
    "MAX_NUMBER_OF_PAYMENT_ATTEMPTS_EXCEEDED": DeclineCategory.GENERIC,
    "COMPLIANCE_VIOLATION": DeclineCategory.FRAUD,
    "PAYEE_BLOCKED_TRANSACTION": DeclineCategory.FRAUD,
    "TRANSACTION_BLOCKED_BY_PAYEE": DeclineCategory.FRAUD,
}

# Django language codes to PayPal's locale codes; other "ll-rr" codes are passed on as ll-RR.
_LOCALES = {
    "en": "en-US",
    "zh-hans": "zh-CN",
    "zh-hant": "zh-TW",
    "zh": "zh-CN",
}
_LANGUAGE_REGION = re.compile(r"^([a-z]{2})[-_]([a-z]{2})$")

_WEBHOOK_HEADERS = {
    "auth_algo": "PAYPAL-AUTH-ALGO",
    "cert_url": "PAYPAL-CERT-URL",
    "transmission_id": "PAYPAL-TRANSMISSION-ID",
    "transmission_sig": "PAYPAL-TRANSMISSION-SIG",
    "transmission_time": "PAYPAL-TRANSMISSION-TIME",
}


def paypal_amount(amount: Decimal, currency: str) -> str:
    """`amount` as PayPal's `value` string: "10.00" for USD, "1000" for JPY.

    Raises ValueError for an amount finer than the currency's unit: money is never rounded
    on its way to PayPal.
    """
    if not has_valid_precision(amount, currency):
        raise ValueError(f"{amount} has more decimal places than {currency} allows")
    return f"{amount.quantize(quantum(currency)):f}"


def paypal_locale(language: str) -> str | None:
    """PayPal's locale for a Django language code ("en" -> "en-US"), or None to let PayPal
    choose from the customer's browser."""
    code = language.strip().lower()
    if code in _LOCALES:
        return _LOCALES[code]
    match = _LANGUAGE_REGION.match(code)
    if match:
        return f"{match[1]}-{match[2].upper()}"
    return None


def _issue(response: httpx.Response) -> str:
    """PayPal's name for what went wrong: the first `details[].issue`, else the error name."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        details = body.get("details")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            issue = details[0].get("issue")
            if issue:
                return str(issue)
        for key in ("name", "error"):
            if body.get(key):
                return str(body[key])
    return f"HTTP {response.status_code}"


def _debug_id(response: httpx.Response) -> str:
    # What PayPal's support asks for; it identifies the request without revealing anything.
    return str(response.headers.get("PayPal-Debug-Id", ""))


def _capture_result(capture: Mapping[str, Any], order_status: str) -> GatewayResult:
    status = str(capture.get("status", ""))
    reason = str((capture.get("status_details") or {}).get("reason", ""))
    extra = {"capture_status": status}
    if order_status:
        extra["order_status"] = order_status
    reference = str(capture.get("id", ""))
    if status in ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED"):
        # A refunded capture did complete; its refunds are separate transactions.
        return GatewayResult(outcome=Outcome.SUCCEEDED, reference=reference, extra=extra)
    if status in ("DECLINED", "FAILED"):
        decline = (
            DeclineCategory.FRAUD
            if reason == "DECLINED_BY_RISK_FRAUD_FILTERS"
            else DeclineCategory.GENERIC
        )
        return GatewayResult(
            outcome=Outcome.DECLINED,
            reference=reference,
            decline=decline,
            message=reason or status,
            extra=extra,
        )
    # PENDING, or a status PayPal may add later: neither paid nor refused, so settle later.
    return GatewayResult(
        outcome=Outcome.PENDING, reference=reference, message=reason or status, extra=extra
    )


def _first_capture(order: Mapping[str, Any]) -> Mapping[str, Any] | None:
    units = order.get("purchase_units") or []
    if not units or not isinstance(units[0], dict):
        return None
    captures = (units[0].get("payments") or {}).get("captures") or []
    return captures[0] if captures and isinstance(captures[0], dict) else None


def _approve_url(order: Mapping[str, Any]) -> str:
    links = order.get("links") or []
    for rel in ("payer-action", "approve"):
        for link in links:
            if isinstance(link, dict) and link.get("rel") == rel and link.get("href"):
                return str(link["href"])
    return ""


def _order(body: Any) -> PayPalOrder:
    if not isinstance(body, dict) or not body.get("id"):
        raise ValueError("not an order")
    status = PayPalOrderStatus(str(body.get("status")))
    capture = _first_capture(body)
    return PayPalOrder(
        id=str(body["id"]),
        status=status,
        approve_url=_approve_url(body),
        capture=_capture_result(capture, str(status)) if capture is not None else None,
    )


def _refund_result(
    response: httpx.Response, what: str, *, unreadable: type[Exception]
) -> GatewayResult:
    """A refund as PayPal shows it: COMPLETED, PENDING, or anything else (failed)."""
    try:
        body = response.json()
        status = str(body.get("status", ""))
        reference = str(body.get("id", ""))
        reason = str((body.get("status_details") or {}).get("reason", ""))
    except (ValueError, AttributeError):
        raise unreadable(f"PayPal's answer to {what} was unreadable") from None
    extra = {"refund_status": status}
    if status == "COMPLETED":
        return GatewayResult(outcome=Outcome.SUCCEEDED, reference=reference, extra=extra)
    if status == "PENDING":
        return GatewayResult(
            outcome=Outcome.PENDING, reference=reference, message=reason, extra=extra
        )
    return GatewayResult(
        outcome=Outcome.FAILED, reference=reference, message=reason or status, extra=extra
    )


class PayPalRestGateway:
    """PayPal's REST API over one HTTP client; safe to share between threads."""

    name = "paypal"

    def __init__(
        self,
        *,
        api_url: str,
        client_id: str,
        client_secret: str,
        webhook_id: str,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client_id = client_id
        self._client_secret = client_secret
        self.webhook_id = webhook_id
        self._client = httpx.Client(
            base_url=api_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._token_lock = threading.Lock()
        self._access_token = ""
        self._token_good_until = 0.0

    @property
    def live(self) -> bool:
        """False on PayPal's sandbox API (api-m.sandbox.paypal.com, api.sandbox.paypal.com),
        where no real money moves."""
        return not self._client.base_url.host.endswith("sandbox.paypal.com")

    @classmethod
    def from_settings(cls) -> PayPalRestGateway:
        """The adapter for `PAYPAL_GATEWAY=paypal`: PayPal's API with the portal's credentials."""
        return cls(
            api_url=settings.PAYPAL_API_URL,
            client_id=settings.PAYPAL_CLIENT_ID,
            client_secret=settings.PAYPAL_CLIENT_SECRET,
            webhook_id=settings.PAYPAL_WEBHOOK_ID,
            timeout=settings.PAYPAL_TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"<PayPalRestGateway {self._client.base_url}>"

    # OAuth2

    def _token(self) -> str:
        """A valid access token, fetched once and reused until shortly before it expires."""
        with self._token_lock:
            if self._access_token and time.monotonic() < self._token_good_until:
                return self._access_token
            try:
                response = self._client.post(
                    "/v1/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(self._client_id, self._client_secret),
                )
            except httpx.HTTPError as error:
                # Asking for a token changes nothing, so an unanswered request is harmless.
                raise GatewayUnavailable(
                    f"PayPal's token endpoint did not answer ({type(error).__name__})"
                ) from None
            if response.status_code != 200:
                raise GatewayUnavailable(
                    f"PayPal refused the client credentials ({_issue(response)}, "
                    f"debug id {_debug_id(response) or '-'})"
                )
            try:
                body = response.json()
                token = str(body["access_token"])
                lifetime = float(body.get("expires_in", 0))
            except (ValueError, KeyError, TypeError):
                raise GatewayUnavailable("PayPal's token endpoint answered nonsense") from None
            # Renew five minutes early (half-way for short-lived tokens), so that a token
            # never expires between being handed out and reaching PayPal.
            margin = min(300.0, lifetime / 2)
            self._access_token = token
            self._token_good_until = time.monotonic() + lifetime - margin
            return token

    def _forget_token(self, token: str) -> None:
        with self._token_lock:
            # Another thread may already have replaced it; keep that newer token.
            if self._access_token == token:
                self._access_token = ""
                self._token_good_until = 0.0

    # HTTP

    def _send(
        self,
        method: str,
        path: str,
        *,
        request_id: str = "",
        body: Any = None,
        content: bytes | None = None,
        representation: bool = False,
    ) -> httpx.Response:
        """One API call, retried once with a fresh token if PayPal says the token expired.

        The retry carries the same request id, so it cannot act twice.
        """
        headers: dict[str, str] = {}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        if representation:
            headers["Prefer"] = "return=representation"
        if body is not None:
            content = json.dumps(body).encode()
        if content is not None:
            headers["Content-Type"] = "application/json"
        token = self._token()
        response = self._client.request(
            method, path, content=content, headers={**headers, "Authorization": f"Bearer {token}"}
        )
        if response.status_code == 401:
            self._forget_token(token)
            token = self._token()
            response = self._client.request(
                method,
                path,
                content=content,
                headers={**headers, "Authorization": f"Bearer {token}"},
            )
        return response

    def _call(
        self, method: str, path: str, *, changes: bool, what: str, **kwargs: Any
    ) -> httpx.Response:
        """`_send`, with transport errors turned into the gateway interface's exceptions."""
        try:
            return self._send(method, path, **kwargs)
        except _NOT_SENT as error:
            raise GatewayUnavailable(
                f"PayPal could not be reached for {what} ({type(error).__name__})"
            ) from None
        except httpx.RequestError as error:
            # The request went out and no answer came back: it may have been carried out.
            if changes:
                raise GatewayTimeout(
                    f"No answer from PayPal to {what} ({type(error).__name__})"
                ) from None
            raise GatewayUnavailable(
                f"No answer from PayPal to {what} ({type(error).__name__})"
            ) from None

    # Orders

    def create_order(
        self,
        *,
        amount: Decimal,
        currency: str,
        reference: str,
        description: str,
        return_url: str,
        cancel_url: str,
        locale: str,
        request_id: str,
    ) -> PayPalOrder:
        experience: dict[str, str] = {
            "return_url": return_url,
            "cancel_url": cancel_url,
            "user_action": "PAY_NOW",
            "shipping_preference": "NO_SHIPPING",
        }
        paypal_locale_code = paypal_locale(locale)
        if paypal_locale_code:
            experience["locale"] = paypal_locale_code
        order = {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": reference,
                    "custom_id": reference,
                    "description": description[:127],
                    "amount": {"currency_code": currency, "value": paypal_amount(amount, currency)},
                }
            ],
            "payment_source": {"paypal": {"experience_context": experience}},
        }
        what = f"creating an order for {reference}"
        response = self._call(
            "POST",
            "/v2/checkout/orders",
            changes=True,
            what=what,
            request_id=request_id,
            body=order,
            representation=True,
        )
        if not response.is_success:
            # Nothing was created, or it was and the same request id will find it again.
            raise GatewayUnavailable(
                f"PayPal refused {what}: {_issue(response)} "
                f"(HTTP {response.status_code}, debug id {_debug_id(response) or '-'})"
            )
        try:
            return _order(response.json())
        except ValueError:
            raise GatewayTimeout(f"PayPal's answer to {what} was unreadable") from None

    def get_order(self, *, order_id: str) -> PayPalOrder:
        what = f"looking up order {order_id}"
        response = self._call(
            "GET", f"/v2/checkout/orders/{quote(order_id, safe='')}", changes=False, what=what
        )
        if not response.is_success:
            raise GatewayUnavailable(
                f"PayPal refused {what}: {_issue(response)} "
                f"(HTTP {response.status_code}, debug id {_debug_id(response) or '-'})"
            )
        try:
            return _order(response.json())
        except ValueError:
            raise GatewayUnavailable(f"PayPal's answer to {what} was unreadable") from None

    def capture_order(self, *, order_id: str, request_id: str) -> GatewayResult:
        what = f"capturing order {order_id}"
        response = self._call(
            "POST",
            f"/v2/checkout/orders/{quote(order_id, safe='')}/capture",
            changes=True,
            what=what,
            request_id=request_id,
            body={},
            representation=True,
        )
        if response.is_success:
            try:
                body = response.json()
                order_status = str(body.get("status", ""))
            except (ValueError, AttributeError):
                raise GatewayTimeout(f"PayPal's answer to {what} was unreadable") from None
            capture = _first_capture(body)
            if capture is None:
                raise GatewayTimeout(f"PayPal's answer to {what} carried no capture")
            return _capture_result(capture, order_status)
        if response.status_code >= 500:
            # PayPal may have captured before failing to answer; only a lookup can tell.
            raise GatewayTimeout(f"PayPal answered HTTP {response.status_code} to {what}")
        issue = _issue(response)
        if issue == "ORDER_ALREADY_CAPTURED":
            # An earlier capture (another request id) went through; report that one.
            try:
                order = self.get_order(order_id=order_id)
            except GatewayUnavailable:
                raise GatewayTimeout(
                    f"{order_id} was captured earlier; its capture is unknown"
                ) from None
            if order.capture is None:
                raise GatewayTimeout(f"{order_id} was captured earlier; its capture is unknown")
            return order.capture
        extra = {"debug_id": _debug_id(response)} if _debug_id(response) else {}
        if issue in _DECLINE_ISSUES:
            return GatewayResult(
                outcome=Outcome.DECLINED, decline=_DECLINE_ISSUES[issue], message=issue, extra=extra
            )
        return GatewayResult(
            outcome=Outcome.FAILED,
            message=issue,
            retryable=response.status_code == 429,
            extra=extra,
        )

    # Payments

    def refund(
        self, *, charge_reference: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult:
        what = f"refunding capture {charge_reference}"
        response = self._call(
            "POST",
            f"/v2/payments/captures/{quote(charge_reference, safe='')}/refund",
            changes=True,
            what=what,
            request_id=idempotency_key,
            body={"amount": {"value": paypal_amount(amount, currency), "currency_code": currency}},
            representation=True,
        )
        if response.status_code >= 500:
            raise GatewayTimeout(f"PayPal answered HTTP {response.status_code} to {what}")
        if not response.is_success:
            return GatewayResult(
                outcome=Outcome.FAILED,
                message=_issue(response),
                retryable=response.status_code == 429,
                extra={"debug_id": _debug_id(response)} if _debug_id(response) else {},
            )
        return _refund_result(response, what, unreadable=GatewayTimeout)

    def get_refund(self, *, refund_reference: str) -> GatewayResult:
        what = f"looking up refund {refund_reference}"
        response = self._call(
            "GET",
            f"/v2/payments/refunds/{quote(refund_reference, safe='')}",
            changes=False,
            what=what,
        )
        if not response.is_success:
            raise GatewayUnavailable(f"PayPal answered HTTP {response.status_code} to {what}")
        return _refund_result(response, what, unreadable=GatewayUnavailable)

    # Webhooks

    def verify_webhook(self, *, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The event when PayPal confirms it sent it; None for anything else, including no
        answer from PayPal (it delivers a webhook again until it is acknowledged)."""
        try:
            text = body.decode("utf-8")
            event = json.loads(text)
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return None
        if not isinstance(event, dict):
            return None
        by_name = {str(name).upper(): value for name, value in headers.items()}
        fields = {field: by_name.get(header, "") for field, header in _WEBHOOK_HEADERS.items()}
        if not all(fields.values()):
            return None
        fields["webhook_id"] = self.webhook_id
        # The event goes back byte for byte as it came: PayPal checks the signature against a
        # CRC32 of the event, which a parse-and-serialise round trip could change.
        request = json.dumps(fields)[:-1] + ', "webhook_event": ' + text + "}"
        try:
            response = self._send(
                "POST", "/v1/notifications/verify-webhook-signature", content=request.encode()
            )
        except (httpx.HTTPError, GatewayUnavailable) as error:
            logger.warning("PayPal webhook not verified: %s", type(error).__name__)
            return None
        if not response.is_success:
            logger.warning(
                "PayPal webhook not verified: %s (debug id %s)",
                _issue(response),
                _debug_id(response) or "-",
            )
            return None
        try:
            status = response.json().get("verification_status")
        except (ValueError, AttributeError):
            return None
        return event if status == "SUCCESS" else None
