"""Input no browser of the portal's own would send: answered with a clear error, never a 500,
and nothing changes."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Account
from payments.models import Payment

pytestmark = pytest.mark.django_db

NUL_KEY = "k" * 20 + "\x00" + "k" * 11


@pytest.mark.parametrize("path", ["/payments/", "/payments/paypal/", "/payments/card/start/"])
def test_a_form_key_with_a_nul_is_refused_with_a_clear_error(
    owner_client: Client, account: Account, issue, path: str
) -> None:
    issue(account, "100.00")
    response = owner_client.post(
        path, {"amount": "10.00", "currency": "USD", "key": NUL_KEY, "use_company_info": "on"}
    )
    assert response.status_code == 400
    assert not Payment.objects.exists()


@pytest.mark.parametrize("path", ["/payments/paypal/return/", "/payments/paypal/cancel/"])
@pytest.mark.parametrize("token", ["%00", "a%00b", "x" * 300])
def test_paypal_coming_back_with_a_bad_token_is_a_404(
    owner_client: Client, path: str, token: str
) -> None:
    assert owner_client.get(f"{path}?token={token}").status_code == 404


def _errors(response) -> list[str]:
    import re

    html = response.content.decode()
    return [
        re.sub(r"<[^>]+>", "", block).strip()
        for block in re.findall(r'role="alert"[^>]*>(.*?)</(?:div|p)>', html, re.S)
        if re.sub(r"<[^>]+>", "", block).strip()
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"currency": "EUR"}, "Nothing is owed in this currency."),
        ({"key": "short"}, "This form has expired. Reload the page and try again."),
        ({"amount": "0"}, "The amount must be greater than zero."),
        ({"amount": "10.001"}, "USD amounts have at most 2 decimals."),
    ],
)
def test_what_is_wrong_with_a_payment_form_is_what_it_says(
    owner_client: Client, account: Account, issue, card_token, change: dict, message: str
) -> None:
    issue(account, "100.00")
    form = {
        "amount": "10.00",
        "currency": "USD",
        "key": "k" * 32,
        "use_company_info": "on",
        "card_token": card_token("4242424242424242"),
        **change,
    }
    response = owner_client.post("/payments/", form)
    assert response.status_code == 400
    errors = " ".join(_errors(response))
    assert message in errors
    assert "Enter the card's details." not in errors
    assert not Payment.objects.exists()
