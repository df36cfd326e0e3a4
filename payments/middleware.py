"""Card data never reaches the portal's own views: a request carrying any is refused.

The card fields belong to the gateway and post to the gateway; a card number or security
code sent to a portal URL in a form, a query string or a body (a misconfigured form, a
script, an attacker probing) is answered 400 before any view, form or log sees it. Only the
sandbox processor's URLs take card data.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from .card_numbers import looks_like_card_number

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


class CardDataGuardMiddleware:
    exempt_prefix = "/sandbox-gateway/"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(self.exempt_prefix) and self._carries_card_data(request):
            # A page of its own, not the portal's layout: that would echo the request's URL.
            return HttpResponse(
                render_to_string("payments/card_data_refused.html", request=None), status=400
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
