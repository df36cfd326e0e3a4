"""Card data never reaches the portal's own views: a request carrying any is refused.

The card fields belong to the gateway and post to the gateway; a card number or security
code sent to a portal URL in a form, a query string or a body (a misconfigured form, a
script, an attacker probing) is answered 400 before any view, form or log sees it. Only the
sandbox processor's URLs take card data.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.translation import gettext as _

CARD_FIELD_NAMES = frozenset(
    {
        "number",
        "card_number",
        "cardnumber",
        "cc_number",
        "pan",
        "cvc",
        "cvv",
        "cvc2",
        "security_code",
        "csc",
    }
)
_DIGIT_RUN = re.compile(r"(?<![\d])(?:\d[ -]?){12,19}(?![\d])")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        digit = int(char)
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def looks_like_card_number(value: str) -> bool:
    for match in _DIGIT_RUN.finditer(value):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return True
    return False


class CardDataGuardMiddleware:
    exempt_prefix = "/sandbox-gateway/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.exempt_prefix) and self._carries_card_data(request):
            return HttpResponseBadRequest(
                _("Card numbers and security codes are never sent to this portal.")
            )
        return self.get_response(request)

    def _carries_card_data(self, request: HttpRequest) -> bool:
        sources = [request.GET]
        if request.method == "POST":
            sources.append(request.POST)
        elif request.method in ("PUT", "PATCH") and looks_like_card_number(
            request.body.decode("utf-8", "replace")
        ):
            return True
        for data in sources:
            for name, values in data.lists():
                if name == "csrfmiddlewaretoken" or "password" in name:
                    continue
                if name.lower() in CARD_FIELD_NAMES or any(
                    looks_like_card_number(value) for value in values
                ):
                    return True
        return False
