"""The language switch works for everyone, signed in or not, and never becomes a `next`."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import User

pytestmark = pytest.mark.django_db

SWITCH = reverse("set_language")


def _language_of(response: object) -> str:
    return response.cookies["django_language"].value  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "page",
    [
        reverse("login"),
        reverse("password_reset"),
        reverse("password_reset_done"),
        reverse("password_reset_complete"),
        reverse("accounts:accept", args=["not-a-token"]),
    ],
)
def test_signed_out_the_switch_changes_the_language_and_goes_back(
    client: Client, page: str
) -> None:
    response = client.post(SWITCH, {"language": "zh-hans", "next": page})

    assert response.status_code == 302
    assert response["Location"] == page
    assert _language_of(response) == "zh-hans"
    assert '<html lang="zh-hans">' in client.get(page).content.decode()


def test_signed_in_the_switch_changes_the_language_and_goes_back(
    owner_client: Client,
) -> None:
    invoices = reverse("invoices:list")
    response = owner_client.post(SWITCH, {"language": "zh-hans", "next": invoices})
    assert response["Location"] == invoices
    assert '<html lang="zh-hans">' in owner_client.get(invoices).content.decode()


def test_the_switch_is_never_where_it_goes_back_to(client: Client) -> None:
    for next_url in (SWITCH, SWITCH + "?next=/", "https://evil.example/"):
        response = client.post(
            SWITCH, {"language": "zh-hans", "next": next_url}, HTTP_REFERER=SWITCH
        )
        assert response["Location"] == reverse("home"), next_url


def test_asked_with_get_the_switch_goes_home_without_changing_anything(client: Client) -> None:
    response = client.get(SWITCH, {"next": SWITCH}, HTTP_REFERER=SWITCH)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert "django_language" not in response.cookies


def test_signing_in_with_the_switch_as_next_lands_on_the_home_page(
    client: Client, owner: User
) -> None:
    """The loop of before: /login/?next=/i18n/setlang/, signed in, sent to the switch,
    which sent back to the sign-in page, which sent a signed-in user to `next`..."""
    owner.set_password("a-long-password-2026")
    owner.save()
    login = reverse("login") + "?next=" + SWITCH
    page = client.get(login).content.decode()
    assert f'value="{SWITCH}"' not in page

    response = client.post(
        login, {"username": owner.email, "password": "a-long-password-2026", "next": SWITCH}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    # And signed in, the sign-in page with that `next` does not send there either.
    assert client.get(login)["Location"] == reverse("home")
