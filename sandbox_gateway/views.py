"""The sandbox processor's own pages: the card fields (framed by the portal) and its API.

Card data reaches only these views. They are not the portal's: a real deployment points the
portal at a real processor instead, and these URLs are then not served at all.
"""

from __future__ import annotations

import json

from babel.numbers import format_currency
from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.csp import CSP
from django.utils.translation import to_locale
from django.views.debug import SafeExceptionReporterFilter
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import paypal, processor


class CardDataReporterFilter(SafeExceptionReporterFilter):
    """Django's filter hides what `sensitive_variables` / `sensitive_post_parameters` mark
    only when DEBUG is off; card data stays hidden with DEBUG on too (the technical 500 page
    and error reports)."""

    def is_active(self, request: HttpRequest | None) -> bool:
        return True


@login_not_required
@require_GET
@xframe_options_sameorigin
def card_fields(request: HttpRequest) -> HttpResponse:
    """The card holder, number, expiry and security code fields, shown in the portal's iframe."""
    response = render(request, "sandbox_gateway/card_fields.html")
    # Framed by the portal (same origin here; the processor's own origin in real life).
    response._csp_config = {  # type: ignore[attr-defined]
        "default-src": [CSP.SELF],
        "script-src": [CSP.SELF],
        "style-src": [CSP.SELF],
        "connect-src": [CSP.SELF],
        "frame-ancestors": [CSP.SELF],
        "form-action": [CSP.NONE],
        "base-uri": [CSP.NONE],
        "object-src": [CSP.NONE],
    }
    return response


@login_not_required
@csrf_exempt
@require_POST
@sensitive_post_parameters()
@sensitive_variables()
def create_token(request: HttpRequest) -> JsonResponse:
    """Turn card fields into a single-use token (JSON in, JSON out); the number is not kept."""
    request.exception_reporter_filter = CardDataReporterFilter()
    try:
        data = json.loads(request.body or b"{}")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"errors": {"__all__": "Malformed request."}}, status=400)
    card, errors = processor.tokenize(
        number=str(data.get("number", "")),
        exp_month=str(data.get("exp_month", "")),
        exp_year=str(data.get("exp_year", "")),
        cvc=str(data.get("cvc", "")),
        holder=str(data.get("holder", "")),
        today=timezone.localdate(),
    )
    if card is None:
        return JsonResponse({"errors": errors}, status=400)
    return JsonResponse(
        {
            "token": card.token,
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
        status=201,
    )


@login_not_required
@require_http_methods(["GET", "POST"])
def paypal_checkout(request: HttpRequest) -> HttpResponse:
    """The sandbox's PayPal approval page: Approve sends the customer back to the merchant's
    return URL, Cancel to its cancel URL, with the order id as PayPal does (`token`)."""
    order_id = request.POST.get("token") or request.GET.get("token", "")
    try:
        order = paypal.get_order(order_id)
    except paypal.UnknownOrder as error:
        raise Http404 from error
    if request.method == "POST":
        approve = request.POST.get("decision") == "approve"
        order = paypal.decide(order.order_id, approve=approve)
        target = order.return_url if approve else order.cancel_url
        return HttpResponseRedirect(f"{target}?token={order.order_id}&PayerID=SANDBOXPAYER")
    return render(
        request,
        "sandbox_gateway/paypal_checkout.html",
        {
            "order": order,
            "amount": format_currency(
                order.amount, order.currency, locale=to_locale(request.LANGUAGE_CODE)
            ),
        },
    )
