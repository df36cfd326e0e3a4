"""A card number typed into any free-text field of the portal, however it is written, is
refused with a clear error and kept nowhere; numbers that are not card numbers stay allowed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Account, Invitation, OutboundEmail, User
from accounts.team import team_invite
from payments.card_numbers import looks_like_card_number, mask_card_numbers
from tests.conftest import admin_login

pytestmark = pytest.mark.django_db
SETTINGS = reverse("accounts:settings")

# Each is a test card (5555555555554444, 4000056655665556, 4242424242424242 or
# 378282246310005) as someone might type or paste it.
WRITTEN = [
    "Hello Co 5555.5555.5555.4444",
    "4000/0566/5566/5556",
    "4242  4242  4242  4242",
    "4242\u00a04242\u00a04242\u00a04242",
    "4242\t4242\t4242\t4242",
    "4242 - 4242 -- 4242 // 4242",
    "4242_4242_4242_4242",
    "4242\u20094242\u30004242\u200b4242",
    "３７８２　８２２４６３　１０００５",
    "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",
    "4242424242424²42",
    "card:5555555555554444.",
    "Tel 020-8888 8888 / 4000 0566 5566 5556",
]

NOT_CARDS = [
    "+86 571 5555 0000",  # a phone number whose digits fail the Luhn check
    "+86 138 0013 8002",  # passes the Luhn check, but no card starts with 86
    "0861380013800",  # passes the Luhn check, but no card starts with 0
    "4242 4242 4242 4241",  # a mistyped card number is not a card number
    "42424242424242420",  # a card's digits inside a longer number
    "Room 1201, 18 Zhongshan Road, 200001",
    "Invoice 2026-000123",
]


@pytest.mark.parametrize("text", WRITTEN)
def test_a_card_number_is_found_however_it_is_written(text: str) -> None:
    assert looks_like_card_number(text)
    assert "****" in mask_card_numbers(text)


@pytest.mark.parametrize("text", NOT_CARDS)
def test_numbers_that_are_not_card_numbers_are_not_taken_for_one(text: str) -> None:
    assert not looks_like_card_number(text)
    assert mask_card_numbers(text) == text


def test_masking_keeps_the_separators_and_the_last_four_digits() -> None:
    assert mask_card_numbers("Hello Co 5555.5555.5555.4444!") == "Hello Co ****.****.****.4444!"
    assert mask_card_numbers("/nosuch/4000000000000077") == "/nosuch/************0077"


def _company_form(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "company_name": "Hello Co",
        "address_line1": "1 Main Street",
        "address_line2": "",
        "city": "Springfield",
        "region": "",
        "postal_code": "12345",
        "country": "US",
        "phone": "+1 202 555 0143",
        "language": "en",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("field", "text"),
    [("company_name", text) for text in WRITTEN]
    + [("phone", WRITTEN[1]), ("address_line1", WRITTEN[3]), ("city", WRITTEN[8])],
)
def test_a_card_number_in_the_company_information_is_refused_and_kept_nowhere(
    owner_client: Client, account: Account, field: str, text: str
) -> None:
    before = {f: getattr(account, f) for f in ("company_name", "phone", "address_line1", "city")}
    response = owner_client.post(SETTINGS, _company_form(**{field: text}))
    assert response.status_code == 400
    body = response.content.decode()
    assert "never sent to this portal" in body
    assert "looks like a card number" in body
    assert text not in body
    account.refresh_from_db()
    assert {f: getattr(account, f) for f in before} == before
    assert not OutboundEmail.objects.exists()


def test_the_refusal_is_translated(owner_client: Client) -> None:
    response = owner_client.post(
        SETTINGS,
        _company_form(company_name="5555.5555.5555.4444"),
        headers={"accept-language": "zh-hans"},
    )
    assert response.status_code == 400
    assert "卡号" in response.content.decode()


@pytest.mark.parametrize("text", NOT_CARDS)
def test_numbers_that_are_not_card_numbers_are_saved(
    owner_client: Client, account: Account, text: str
) -> None:
    # The phone field takes phone numbers only (the two that are, here).
    phone = {"phone": text} if text.startswith("+86") else {}
    response = owner_client.post(SETTINGS, _company_form(address_line2=text, **phone))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.address_line2 == text


def test_a_card_number_as_a_new_members_name_is_refused(
    client: Client, account: Account, owner: User
) -> None:
    sent = team_invite(account=account, by=owner, email="new@example.com", role="billing")
    response = client.post(
        reverse("accounts:accept", args=[sent.token]),
        {
            "full_name": "Li 4000/0566/5566/5556",
            "password1": "a long enough passphrase 2026",
            "password2": "a long enough passphrase 2026",
        },
    )
    assert response.status_code == 400
    assert not User.objects.filter(email="new@example.com").exists()
    assert Invitation.objects.get().accepted_at is None


def test_staff_cannot_type_a_card_number_in_the_admin_either(
    client: Client, rep: User, account: Account
) -> None:
    admin_login(client, rep)
    response = client.post(
        reverse("admin:accounts_account_change", args=[account.pk]),
        {"company_name": "5555 5555 5555 4444"},
    )
    assert response.status_code == 400
    account.refresh_from_db()
    assert "4444" not in account.company_name
