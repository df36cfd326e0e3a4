"""localstripe (a stateful Stripe-compatible server, with a Stripe.js of its own) as the tests
run it: `python -m tests.payments.localstripe_server --port N`. Always from scratch (as
localstripe's `--from-scratch`), and its store stays in memory: localstripe would otherwise
write it to /tmp/localstripe.pickle after every request, one file for every test worker.

localstripe 1.15 is Stripe as it was a few API versions ago, and its Stripe.js is partial.
Where it departs from what Stripe documents, and the portal depends on it, this launcher
makes it answer as Stripe documents (nothing else is changed):

- Stripe's API version of the portal names the accepted payment method types
  `allowed_payment_method_types` on PaymentIntents and SetupIntents; localstripe knows the
  older `payment_method_types`.
- Stripe.js's `confirmCardPayment(secret, {payment_method: {card: element}})` confirms the
  PaymentIntent with the card and then asks for the bank's authentication when the
  PaymentIntent requires it (Stripe.js reference, "confirmCardPayment"). localstripe's skips
  the confirmation and goes to authentication (its issue #253), and its API refuses a
  confirmation from the browser. Here the browser's confirmation (publishable key, client
  secret, `payment_method_data`) is carried out, and the served Stripe.js does it.
- Stripe's test cards that decline (4000 0000 0000 0002, ...9995, ...0069, ...0127) are
  declined on every charge (Stripe's "Testing" page); localstripe declines them only when
  they are attached to a customer.
- A SetupIntent whose card is declined, or whose authentication fails, is left
  `requires_payment_method` with the reason in `last_setup_error` (Stripe's SetupIntent
  object); localstripe cancels it and keeps no reason (its Stripe.js cancels the intent
  when the customer fails the challenge).
- A PaymentIntent confirmed by the server with `off_session: true` (the monthly charge of a
  card on file), whose bank wants the customer to authenticate, fails with a 402
  `card_error`, code `authentication_required`, the PaymentIntent back in
  `requires_payment_method` with the card in `last_payment_error.payment_method` ("Charge
  the saved payment method later" in Stripe's guides); the customer then confirms it with
  `confirmCardPayment(secret, {payment_method: <that card>})`. localstripe refuses
  `off_session` on a confirmation, and answers `requires_action` off-session. As Stripe's
  test cards page says, 4000 0025 0000 3155 set up for later use needs no authentication
  off-session; 4000 0027 6000 3184 always does.
- `GET /v1/payment_intents?customer=cus_...` lists the customer's PaymentIntents, newest
  first ("List all PaymentIntents" in Stripe's API reference); localstripe refuses the
  `customer` parameter.
- A POST with an `Idempotency-Key` is carried out once: the same key again with the same
  parameters gets the first answer (status and body) back, with `Idempotent-Replayed: true`;
  with other parameters, a 400 `idempotency_error` ("Idempotent requests" in Stripe's API
  reference). localstripe ignores the header.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError

_SET_UP_FOR_LATER_WITHOUT_AUTHENTICATION = "4000002500003155"
# (secret key, idempotency key) -> (method and path, body, status, answer)
_IDEMPOTENT: dict[tuple[str, str], tuple[str, bytes, int, bytes]] = {}

_CONFIRM_PATH = "/v1/payment_intents/{id}/confirm"
_SETUP_CANCEL_PATH = "/v1/setup_intents/{id}/cancel"

_STRIPE_JS_CONFIRM = """
// Added by the tests' launcher: confirmCardPayment as Stripe.js's reference describes it.
(() => {
  const localStripe = Stripe;
  Stripe = (apiKey, options) => {
    const stripe = localStripe(apiKey, options);
    const authenticateOnly = stripe.confirmCardPayment;
    stripe.confirmCardPayment = async (clientSecret, data) => {
      const method = data && data.payment_method;
      if (!method) return authenticateOnly(clientSecret, data);
      const pi = clientSecret.match(/^(pi_\\w+)_secret_/)[1];
      const post = (path, body) => fetch(`${LOCALSTRIPE_BASE_API}${path}`, {
        method: "POST",
        body: JSON.stringify({ key: apiKey, client_secret: clientSecret, ...body }),
      }).then(async (response) => ({ status: response.status, body: await response.json() }));
      let confirmation;
      if (typeof method === "string") {
        confirmation = { payment_method: method };
      } else {
        const card = method.card && method.card.value ? method.card.value.card : method.card;
        confirmation = {
          payment_method_data: { type: "card", card, billing_details: method.billing_details },
        };
      }
      let answer = await post(`/v1/payment_intents/${pi}/confirm`, confirmation);
      if (answer.body.error) return { error: answer.body.error };
      if (answer.body.status === "requires_action") {
        const success = await openModal(
          "3D Secure\\nDo you want to confirm or cancel?",
          "Complete authentication", "Fail authentication");
        answer = await post(`/v1/payment_intents/${pi}/_authenticate?success=${success}`, {});
        if (answer.body.error) return { error: answer.body.error };
        if (answer.body.status !== "succeeded") {
          return { error: {
            type: "card_error", code: "payment_intent_authentication_failure",
            message: "The provided payment method has failed authentication.",
            payment_intent: answer.body } };
        }
      }
      return { paymentIntent: answer.body };
    };
    return stripe;
  };
})();
"""


def _rename_payment_method_types(cls: Any) -> None:
    original = cls.__init__

    def __init__(self: Any, *args: Any, allowed_payment_method_types: Any = None, **kwargs: Any):
        if allowed_payment_method_types is not None:
            kwargs.setdefault("payment_method_types", allowed_payment_method_types)
        original(self, *args, **kwargs)

    cls.__init__ = __init__


def _setup_errors_as_stripe_keeps_them() -> None:
    attach = resources.SetupIntent._attach_pm

    def _attach_pm(self: Any, pm: Any) -> None:
        try:
            attach(self, pm)
        except UserError as error:
            self.status = "requires_payment_method"
            self.last_setup_error = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": "generic_decline",
                "message": error.body["error"].get("message", "Your card was declined."),
                "payment_method": pm._export(),
            }
            raise

    resources.SetupIntent._attach_pm = _attach_pm


async def _browser_setup_cancel(request: web.Request) -> web.Response | None:
    """What Stripe leaves when the customer fails the bank's challenge of a SetupIntent."""
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not str(data.get("key", "")).startswith("pk_"):
        return None
    intent = resources.SetupIntent._api_retrieve(request.match_info["id"])
    if data.get("client_secret") != intent.client_secret:
        raise UserError(401, "Unauthorized")
    method = resources.PaymentMethod._api_retrieve(intent.payment_method)
    intent.status = "requires_payment_method"
    intent.next_action = None
    intent.last_setup_error = {
        "type": "card_error",
        "code": "setup_intent_authentication_failure",
        "message": "The latest attempt to set up the payment method has failed because "
        "authentication failed.",
        "payment_method": method._export(),
    }
    intent.payment_method = None
    return server.json_response(intent._export())


def _decline_on_every_charge() -> None:
    charging = resources.PaymentMethod._charging_is_declined

    def declined(self: Any) -> bool:
        return bool(charging(self) or self._attaching_is_declined())

    resources.PaymentMethod._charging_is_declined = declined


async def _browser_confirmation(request: web.Request) -> web.Response | None:
    """A PaymentIntent confirmed from the browser with a card, as Stripe.js does it."""
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or not str(data.get("key", "")).startswith("pk_"):
        return None
    intent = resources.PaymentIntent._api_retrieve(request.match_info["id"])
    if data.get("client_secret") != intent.client_secret:
        raise UserError(401, "Unauthorized")
    if isinstance(data.get("payment_method"), str):
        # A card already on the customer (confirming a charge the bank wants confirmed).
        method = resources.PaymentMethod._api_retrieve(data["payment_method"])
        if method.customer != intent.customer:
            raise UserError(400, "The PaymentMethod does not belong to the customer.")
    else:
        method = resources.PaymentMethod(**data.get("payment_method_data", {}))
    return _confirm(intent, method, off_session=False)


def _confirm(intent: Any, method: Any, *, off_session: bool) -> web.Response:
    if intent.status not in ("requires_payment_method", "requires_confirmation"):
        raise UserError(
            400,
            f"You cannot confirm this PaymentIntent because it has a status of {intent.status}.",
            {"code": "payment_intent_unexpected_state"},
        )
    intent.payment_method = method.id
    intent.latest_charge = None
    intent._authentication_failed = False
    intent._stripe_error = None
    needs_authentication = method._requires_authentication() and not (
        off_session
        and method.customer
        and method._card_number == _SET_UP_FOR_LATER_WITHOUT_AUTHENTICATION
    )
    if off_session and needs_authentication:
        intent.payment_method = None
        intent._stripe_error = {
            "type": "card_error",
            "code": "authentication_required",
            "decline_code": "authentication_required",
            "message": "Your card was declined. This transaction requires authentication.",
            "payment_method": method._export(),
        }
        return _declined(intent)
    try:
        if needs_authentication:
            intent._confirm(on_failure_now=intent._report_failure)
        else:
            intent._create_charge(on_failure_now=intent._report_failure)
    except UserError as error:
        intent._stripe_error = {
            **error.body.get("error", {}),
            "type": "card_error",
            "payment_method": method._export(),
        }
        return _declined(intent)
    return server.json_response(intent._export())


def _declined(intent: Any) -> web.Response:
    """As Stripe answers a declined confirmation: a 402 with the error and the PaymentIntent."""
    body = {"error": {**intent._stripe_error, "payment_intent": intent._export()}}
    return server.json_response(body, status=402)


def _list_payment_intents_by_customer() -> None:
    listing = resources.PaymentIntent._api_list_all.__func__

    @classmethod  # type: ignore[misc]
    def _api_list_all(cls: Any, url: str, customer: Any = None, **kwargs: Any) -> Any:
        listed = listing(cls, url, **kwargs)
        if customer is not None:
            listed._list = [intent for intent in listed._list if intent.customer == customer]
        listed._list.sort(key=lambda intent: intent.created, reverse=True)
        return listed

    resources.PaymentIntent._api_list_all = _api_list_all


def _errors_as_stripe_keeps_them() -> None:
    """`last_payment_error` is what the last confirmation failed with."""
    localstripe_error = resources.PaymentIntent.last_payment_error

    def last_payment_error(self: Any) -> Any:
        return getattr(self, "_stripe_error", None) or localstripe_error.fget(self)

    resources.PaymentIntent.last_payment_error = property(last_payment_error)


async def _server_confirmation(request: web.Request) -> web.Response | None:
    """A PaymentIntent confirmed by the server, on or off session."""
    if server.get_api_key(request) is None:
        return None
    data = dict(await server.get_post_data(request))
    expand = data.pop("expand", None)
    off_session = data.pop("off_session", None)
    if data or off_session is None:
        return None
    intent = resources.PaymentIntent._api_retrieve(request.match_info["id"])
    method = resources.PaymentMethod._api_retrieve(intent.payment_method or "")
    answer = _confirm(intent, method, off_session=resources.try_convert_to_bool(off_session))
    if answer.status == 200 and expand:
        return server.json_response(intent._export(expand=expand))
    return answer


async def _idempotent(request: web.Request, handler: Any) -> web.StreamResponse:
    key = request.headers.get("Idempotency-Key")
    api_key = server.get_api_key(request)
    if request.method != "POST" or not key or api_key is None:
        return await handler(request)
    body = await request.read()
    what = f"{request.method} {request.path}"
    saved = _IDEMPOTENT.get((api_key, key))
    if saved is not None:
        if saved[:2] != (what, body):
            raise UserError(
                400,
                "Keys for idempotent requests can only be used with the same parameters "
                f"they were first used with. Try using a key other than '{key}' if you meant "
                "to execute a different request.",
            )
        response = web.Response(body=saved[3], status=saved[2], content_type="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    try:
        response = await handler(request)
    except UserError as error:
        response = error.to_response()
    if isinstance(response, web.Response) and response.status not in (401, 409, 429):
        _IDEMPOTENT[(api_key, key)] = (what, body, response.status, bytes(response.body))
    return response


@web.middleware
async def _as_stripe_documents(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method == "DELETE" and request.path == "/_config/data":
        _IDEMPOTENT.clear()
    return await _idempotent(request, lambda request: _documented(request, handler))


async def _documented(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.method == "GET" and request.path == "/js.stripe.com/v3/":
        response = server.localstripe_js(request)
        assert isinstance(response, web.Response) and response.text is not None
        return web.Response(
            text=response.text + _STRIPE_JS_CONFIRM, content_type="application/javascript"
        )
    route = request.match_info.route.resource
    if request.method == "POST" and route is not None and route.canonical == _CONFIRM_PATH:
        answered = await _browser_confirmation(request) or await _server_confirmation(request)
        if answered is not None:
            return answered
    if request.method == "POST" and route is not None and route.canonical == _SETUP_CANCEL_PATH:
        answered = await _browser_setup_cancel(request)
        if answered is not None:
            return answered
    return await handler(request)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    resources.Store.dump_to_disk = lambda self: None
    _rename_payment_method_types(resources.PaymentIntent)
    _rename_payment_method_types(resources.SetupIntent)
    _decline_on_every_charge()
    _setup_errors_as_stripe_keeps_them()
    _errors_as_stripe_keeps_them()
    _list_payment_intents_by_customer()
    # After localstripe's error handling (which answers its errors), before its checks of
    # the API key (which refuse the browser's publishable key there).
    server.app.middlewares.insert(1, _as_stripe_documents)
    web.run_app(server.app, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
