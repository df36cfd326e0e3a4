"""A local stand-in for VIES's REST API, for the tests of the VIES client.

The gap it fills: the real service (https://ec.europa.eu/taxation_customs/vies/rest-api)
needs the internet and real registered numbers, and cannot be made to fail on demand. This
server answers POST /check-vat-number as VIES's REST API documents it: a CheckVatRequest
body (countryCode, vatNumber, optionally requesterMemberStateCode and requesterNumber), a
CheckVatResponse (countryCode, vatNumber, requestDate, valid, requestIdentifier, name,
address, and the trader fields as "---" / NOT_PROCESSED when no trader details were asked),
with a requestIdentifier (the consultation number) only when a requester was given. Its
errors are VIES's CommonResponse: {"actionSucceed": false, "errorWrappers": [{"error":
"MS_UNAVAILABLE", "message": ...}]}, with HTTP 500 (VIES also sends some with 200; both
are served here). It runs in a thread on a free port of 127.0.0.1.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# VIES's messages for its error codes (its REST API's documentation).
ERROR_MESSAGES = {
    "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    "SERVICE_UNAVAILABLE": "An error was encountered either at the network level or the Web "
    "application level, try again later",
    "MS_UNAVAILABLE": "The application at the Member State is not replying or not available. "
    "Please refer to the Technical Information page to check the status of the requested "
    "Member State, try again later",
    "TIMEOUT": "The application did not receive a reply within the allocated time, try again later",
    "MS_MAX_CONCURRENT_REQ": "Your Request for VAT validation has not been processed; the "
    "maximum number of concurrent requests for this Member State has been reached.",
}


class FakeVies:
    """The state the tests set: which numbers are registered, which member states are
    down (and how their error is sent), and a delay before answering."""

    def __init__(self) -> None:
        self.registered: dict[str, str] = {}  # "FR40303265045" -> trader name
        self.unavailable: dict[str, tuple[str, int]] = {}  # "FR" -> (error, HTTP status)
        self.delay = 0.0
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.requests.append(body)
        country = str(body.get("countryCode", ""))
        number = str(body.get("vatNumber", ""))
        if len(country) != 2 or not number:
            return 400, _error("INVALID_INPUT")
        if country in self.unavailable:
            code, status = self.unavailable[country]
            return status, _error(code)
        requester = body.get("requesterMemberStateCode") and body.get("requesterNumber")
        name = self.registered.get(country + number)
        return 200, {
            "countryCode": country,
            "vatNumber": number,
            "requestDate": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "valid": name is not None,
            "requestIdentifier": f"WAPIAAAAZ{next(self._ids):07d}" if requester else "",
            "name": name if name is not None else "---",
            "address": "1 RUE EXEMPLE\n75001 PARIS" if name is not None else "---",
            "traderName": "",
            "traderStreet": "",
            "traderPostalCode": "",
            "traderCity": "",
            "traderCompanyType": "",
            "traderNameMatch": "NOT_PROCESSED",
            "traderStreetMatch": "NOT_PROCESSED",
            "traderPostalCodeMatch": "NOT_PROCESSED",
            "traderCityMatch": "NOT_PROCESSED",
            "traderCompanyTypeMatch": "NOT_PROCESSED",
        }

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                if self.path.rstrip("/") != "/check-vat-number":
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {}
                if fake.delay:
                    time.sleep(fake.delay)
                status, data = fake.answer(body if isinstance(body, dict) else {})
                payload = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _error(code: str) -> dict[str, Any]:
    return {
        "actionSucceed": False,
        "errorWrappers": [{"error": code, "message": ERROR_MESSAGES.get(code, code)}],
    }
