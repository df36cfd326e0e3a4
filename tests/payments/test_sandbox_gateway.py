from __future__ import annotations

import json
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from payments.gateways.sandbox import InvalidToken, SandboxGateway
from sandbox_gateway.cards import luhn_valid
from sandbox_gateway.models import SandboxCard
from sandbox_gateway.processor import tokenize

pytestmark = pytest.mark.django_db
TODAY = date(2026, 11, 26)


def _tokenize(**overrides: str):
    fields = {
        "number": "4242 4242 4242 4242",
        "exp_month": "12",
        "exp_year": "2028",
        "cvc": "123",
        "holder": "Wang Xiaoming",
    }
    fields.update(overrides)
    return tokenize(today=TODAY, **fields)


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert luhn_valid("378282246310005")
    assert not luhn_valid("4242424242424241")
    assert not luhn_valid("1234")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"number": "4242 4242 4242 4241"}, "number"),
        ({"exp_month": "10", "exp_year": "2026"}, "expiry"),
        ({"exp_month": "13"}, "expiry"),
        ({"cvc": "12"}, "cvc"),
        ({"number": "378282246310005", "cvc": "123"}, "cvc"),
        ({"holder": " "}, "holder"),
    ],
)
def test_bad_card_fields_never_become_a_token(overrides: dict[str, str], field: str) -> None:
    card, errors = _tokenize(**overrides)
    assert card is None
    assert field in errors
    assert not SandboxCard.objects.exists()


def test_a_token_keeps_the_last_four_digits_but_never_the_number() -> None:
    card, errors = _tokenize()
    assert errors == {}
    assert (card.brand, card.last4, card.exp_month, card.exp_year) == ("visa", "4242", 12, 2028)
    stored = json.dumps(list(SandboxCard.objects.values()), default=str)
    assert "4242424242424242" not in stored and "123" not in stored.replace(card.token, "")


def test_the_token_endpoint_answers_json(client: Client) -> None:
    url = reverse("sandbox_gateway:tokens")
    response = client.post(
        url,
        data=json.dumps(
            {
                "number": "5555555555554444",
                "exp_month": "1",
                "exp_year": "2030",
                "cvc": "999",
                "holder": "A B",
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201
    assert response.json()["last4"] == "4444"
    assert response.json()["brand"] == "mastercard"
    bad = client.post(url, data=json.dumps({"number": "1"}), content_type="application/json")
    assert bad.status_code == 400
    assert set(bad.json()["errors"]) == {"number", "expiry", "cvc", "holder"}


def test_the_card_fields_page_may_only_be_framed_by_the_portal(client: Client) -> None:
    response = client.get(reverse("sandbox_gateway:card_fields"))
    assert response.status_code == 200
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in response["Content-Security-Policy"]
    assert 'autocomplete="cc-number"' in response.content.decode()


def test_verification_is_idempotent_and_a_token_is_single_use() -> None:
    card, _ = _tokenize()
    gateway = SandboxGateway()
    first = gateway.verify_card(token=card.token, idempotency_key="verify:1")
    again = gateway.verify_card(token=card.token, idempotency_key="verify:1")
    assert first == again
    assert first.stored_credential
    with pytest.raises(InvalidToken):
        gateway.describe_token(card.token)
    other = gateway.verify_card(token=card.token, idempotency_key="verify:2")
    assert other.outcome == "failed"


TOKENS = reverse("sandbox_gateway:tokens")
GOOD_CARD = {"number": "4242424242424242", "exp_month": "12", "exp_year": "2030", "cvc": "123"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": "4242424242424²42"}, "number"),
        ({"number": "４２４２４２４２４２４２４２４２"}, "number"),
        ({"exp_year": "9" * 30}, "expiry"),
        ({"exp_year": "2200"}, "expiry"),
        ({"cvc": "１２３"}, "cvc"),
        ({"holder": "A\x00B"}, "holder"),
    ],
)
def test_the_token_api_answers_bad_card_fields_with_a_clear_error(
    client: Client, change: dict[str, str], field: str
) -> None:
    body = {**GOOD_CARD, "holder": "A B", **change}
    response = client.post(TOKENS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not SandboxCard.objects.exists()


@pytest.mark.parametrize("body", ["[1, 2]", '"4242424242424242"', "null", "\xff"])
def test_the_token_api_answers_a_body_that_is_not_an_object_with_a_clear_error(
    client: Client, body: str
) -> None:
    response = client.post(TOKENS, data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"errors": {"__all__": "Malformed request."}}


@pytest.mark.parametrize("token", ["%00", "PP%00", "x" * 300])
def test_the_paypal_page_answers_a_bad_token_with_a_404(client: Client, token: str) -> None:
    url = reverse("sandbox_gateway:paypal_checkout")
    assert client.get(f"{url}?token={token}").status_code == 404
    assert client.post(url, {"token": token.replace("%00", "\x00")}).status_code == 404


def test_an_error_page_under_debug_shows_no_card_number_or_code(
    client: Client, settings, monkeypatch
) -> None:
    """The technical 500 page (and error reports) keep the card fields out, DEBUG or not."""
    settings.DEBUG = True
    client.raise_request_exception = False

    def broken(digits: str) -> str:
        raise RuntimeError("the processor broke")

    monkeypatch.setattr("sandbox_gateway.processor.fingerprint_of", broken)
    # Built, so that the page's source excerpts of this test do not hold them either.
    number, cvc = "5555" * 3 + "4444", str(900 + 87)
    body = {**GOOD_CARD, "number": number, "cvc": cvc, "holder": "A B"}
    response = client.post(TOKENS, data=json.dumps(body), content_type="application/json")
    assert response.status_code == 500
    page = response.content.decode()
    assert "the processor broke" in page  # it is Django's technical page
    assert number not in page and f'"{cvc}"' not in page and f"'{cvc}'" not in page
