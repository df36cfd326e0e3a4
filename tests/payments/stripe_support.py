"""Stripe in the tests: localstripe (a Stripe-compatible server) started once for the session,
the portal pointed at it, and what a customer's browser does with Stripe.js, done over HTTP."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from payments.card_checks import BillingAddress
from payments.cards import (
    card_setup_start_for,
    payment_method_add,
    payment_method_approve,
    payment_method_verify,
)
from payments.gateways import card_gateway
from payments.models import PaymentMethod

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk_test_portal_tests"
PUBLISHABLE_KEY = "pk_test_portal_tests"
WEBHOOK_SECRET = "whsec_portal_tests"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """localstripe's address, started with a fresh store and stopped after the session."""
    port = free_port()
    log = tmp_path_factory.mktemp("localstripe") / "localstripe.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.payments.localstripe_server", "--port", str(port)],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"{url}/v1/customers", auth=(SECRET_KEY, ""), timeout=2)
                    break
                except httpx.TransportError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        pytest.fail(f"localstripe did not start:\n{log.read_text()}")
                    time.sleep(0.2)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture
def stripe_gateway(localstripe: str, settings: Any) -> Iterator[Any]:
    """The portal's card gateway is Stripe (localstripe), with an empty store."""
    httpx.delete(f"{localstripe}/_config/data", timeout=10).raise_for_status()
    settings.CARD_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_JS_URL = f"{localstripe}/js.stripe.com/v3/"
    settings.STRIPE_TIMEOUT_SECONDS = 10.0
    card_gateway.cache_clear()
    yield card_gateway()
    card_gateway.cache_clear()


class StripeBrowser:
    """What Stripe.js does in the customer's browser, over HTTP with the publishable key."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _post(self, path: str, **body: Any) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}{path}", json={"key": PUBLISHABLE_KEY, **body}, timeout=10
        )
        answer: dict[str, Any] = response.json()
        return answer

    @staticmethod
    def _card(number: str) -> dict[str, str]:
        return {"number": number, "exp_month": "12", "exp_year": "2030", "cvc": "123"}

    def confirm_setup(self, client_secret: str, number: str, *, authenticate: bool = True) -> str:
        """`confirmCardSetup` with a card; the bank's challenge, if asked, completed or not.
        Returns the setup intent's id, as the portal's form sends it."""
        setup = client_secret.split("_secret_")[0]
        answer = self._post(
            f"/v1/setup_intents/{setup}/confirm",
            use_stripe_sdk=True,
            client_secret=client_secret,
            payment_method_data={"type": "card", "card": self._card(number)},
        )
        if answer.get("status") == "requires_action":
            step = "confirm" if authenticate else "cancel"
            self._post(
                f"/v1/setup_intents/{setup}/{step}",
                use_stripe_sdk=True,
                client_secret=client_secret,
            )
        return setup

    def confirm_payment(
        self, client_secret: str, number: str, *, authenticate: bool = True
    ) -> dict[str, Any]:
        """`confirmCardPayment` with a card, and the bank's challenge when it asks."""
        intent = client_secret.split("_secret_")[0]
        answer = self._post(
            f"/v1/payment_intents/{intent}/confirm",
            client_secret=client_secret,
            payment_method_data={"type": "card", "card": self._card(number)},
        )
        if answer.get("status") == "requires_action":
            answer = self.authenticate(client_secret, success=authenticate)
        return answer

    def confirm_saved(
        self, client_secret: str, payment_method: str, *, authenticate: bool = True
    ) -> dict[str, Any]:
        """`confirmCardPayment(secret, {payment_method})` with the card on file, as the
        customer does to confirm a charge their bank asked them to confirm."""
        intent = client_secret.split("_secret_")[0]
        answer = self._post(
            f"/v1/payment_intents/{intent}/confirm",
            client_secret=client_secret,
            payment_method=payment_method,
        )
        if answer.get("status") == "requires_action":
            answer = self.authenticate(client_secret, success=authenticate)
        return answer

    def authenticate(self, client_secret: str, *, success: bool) -> dict[str, Any]:
        """The bank's challenge of a payment intent that requires it, completed or failed."""
        intent = client_secret.split("_secret_")[0]
        return self._post(
            f"/v1/payment_intents/{intent}/_authenticate?success={str(success).lower()}",
            client_secret=client_secret,
        )


@pytest.fixture
def stripe_browser(stripe_gateway: Any, localstripe: str) -> StripeBrowser:
    return StripeBrowser(localstripe)


class StripeLine:
    """The network between the portal and Stripe (localstripe), with faults on demand: a
    request that reaches Stripe and is carried out, but whose answer never comes back (the
    connection drops), or one that never gets there. Every other request goes through."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self._lost: list[tuple[str, re.Pattern[str], str]] = []
        self._refusals: dict[int, tuple[int, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        line = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = line._fault_for(self.command, self.path.split("?")[0])
                if fault.startswith("refuse:"):
                    status, refusal = line._refusals.pop(int(fault.split(":")[1]))
                    content = json.dumps(refusal).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Request-Id", "req_portal_tests")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                    return
                if fault == "unsent":
                    self.close_connection = True
                    self.connection.close()
                    return
                headers = {
                    name: value
                    for name, value in self.headers.items()
                    if name.lower() not in ("host", "content-length", "connection")
                }
                answer = httpx.request(
                    self.command,
                    f"{line.upstream}{self.path}",
                    content=body,
                    headers=headers,
                    timeout=30,
                )
                if fault == "answer":
                    # Carried out by Stripe; the answer is lost on the way back.
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_DELETE = _relay

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def lose_answer(self, method: str, path: str) -> None:
        """The next `method` request to a path matching `path` is carried out by Stripe
        and its answer lost."""
        with self._lock:
            self._lost.append((method, re.compile(path), "answer"))

    def lose_request(self, method: str, path: str) -> None:
        """The next `method` request to a path matching `path` never reaches Stripe."""
        with self._lock:
            self._lost.append((method, re.compile(path), "unsent"))

    def refuse(self, method: str, path: str, status: int, error: dict[str, Any]) -> None:
        """Stripe answers the next `method` request to `path` with an error of its API
        (`{"error": {...}}`), as its reference documents them, without acting."""
        self.answer(method, path, status, {"error": error})

    def answer(self, method: str, path: str, status: int, body: dict[str, Any]) -> None:
        """The next `method` request to `path` gets `body` (a Stripe object or error, in the
        shape of Stripe's API reference) instead of reaching Stripe: what Stripe would say
        in a state localstripe cannot reach (a PaymentIntent `processing`, say)."""
        with self._lock:
            number = len(self._refusals) + len(self._lost) + 1
            self._refusals[number] = (status, body)
            self._lost.append((method, re.compile(path), f"refuse:{number}"))

    def _fault_for(self, method: str, path: str) -> str:
        with self._lock:
            for index, (lost_method, pattern, kind) in enumerate(self._lost):
                if lost_method == method and pattern.fullmatch(path):
                    del self._lost[index]
                    return kind
        return ""

    @property
    def pending_faults(self) -> int:
        return len(self._lost)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def stripe_line(stripe_gateway: Any, localstripe: str, settings: Any) -> Iterator[StripeLine]:
    """The portal talks to Stripe (localstripe) through a `StripeLine`."""
    line = StripeLine(localstripe)
    settings.STRIPE_API_BASE = line.url
    card_gateway.cache_clear()
    try:
        yield line
    finally:
        card_gateway.cache_clear()
        line.close()


def stripe_list(localstripe: str, what: str, **params: str) -> list[dict[str, Any]]:
    """Everything of a kind localstripe holds (charges, payment_intents, refunds)."""
    response = httpx.get(
        f"{localstripe}/v1/{what}",
        params={"limit": "100", **params},
        auth=(SECRET_KEY, ""),
        timeout=10,
    )
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.fixture
def monthly_stripe(account: Any, owner: Any, rep: Any, stripe_browser: StripeBrowser) -> Any:
    """Puts a card on the account through Stripe, approved for the monthly charge."""

    def _monthly(number: str) -> PaymentMethod:
        setup = card_setup_start_for(account=account)
        assert setup is not None
        token = stripe_browser.confirm_setup(setup.client_secret, number)
        method = payment_method_add(
            account=account,
            by=owner,
            token=token,
            address=BillingAddress.of_account(account),
            contact_email="cards@example.com",
        )
        method = payment_method_verify(payment_method_id=method.pk)
        return payment_method_approve(payment_method=method, by=rep)

    return _monthly
