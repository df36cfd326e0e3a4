from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from accounts.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, email: str, password: str) -> object:
    return client.post(reverse("login"), {"username": email, "password": password})


def test_sign_in_by_email_ignores_case(client: Client, owner: User) -> None:
    response = _sign_in(client, "OWNER@Example.com", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("accounts:settings")).status_code == 200


def test_wrong_password_shows_a_clear_error_and_signs_nobody_in(
    client: Client, owner: User
) -> None:
    response = _sign_in(client, owner.email, "not-the-password")
    assert response.status_code == 200
    assert "Please enter a correct email address and password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_wrong_password_error_is_translated(client: Client, owner: User) -> None:
    response = client.post(
        reverse("login"),
        {"username": owner.email, "password": "nope"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert "请输入正确的电子邮件地址和密码" in response.content.decode()


def test_repeated_wrong_passwords_are_throttled_even_with_the_right_one_after(
    client: Client, owner: User, settings: object
) -> None:
    limit = settings.AXES_FAILURE_LIMIT  # type: ignore[attr-defined]
    for _attempt in range(limit - 1):
        assert _sign_in(client, owner.email, "wrong").status_code == 200
    response = _sign_in(client, owner.email, "wrong")
    assert response.status_code == 429
    body = response.content.decode()
    assert "Too many failed sign-in attempts" in body
    assert "Try again in 15 minutes" in body

    response = _sign_in(client, owner.email, PASSWORD)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_throttling_one_email_leaves_another_user_able_to_sign_in(
    client: Client, owner: User, viewer: User, settings: object
) -> None:
    for _attempt in range(settings.AXES_FAILURE_LIMIT):  # type: ignore[attr-defined]
        _sign_in(client, owner.email, "wrong")
    assert _sign_in(client, viewer.email, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "name",
    ["home", "invoices:list", "payments:methods", "payments:pay", "accounts:settings"],
)
def test_every_page_but_sign_in_requires_a_signed_in_user(client: Client, name: str) -> None:
    url = reverse(name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_sign_in_page_is_public(client: Client) -> None:
    assert client.get(reverse("login")).status_code == 200


def test_sign_out_ends_the_session(owner_client: Client) -> None:
    response = owner_client.post(reverse("logout"))
    assert response.status_code == 302
    assert owner_client.get(reverse("accounts:settings")).status_code == 302


def test_password_reset_emails_a_link_that_sets_a_new_password(client: Client, owner: User) -> None:
    response = client.post(reverse("password_reset"), {"email": "Owner@example.com"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [owner.email]
    link = re.search(r"https?://[^/]+(/reset/\S+/)", message.body)
    assert link is not None

    response = client.get(link.group(1), follow=True)
    assert response.status_code == 200
    response = client.post(
        response.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase-7", "new_password2": "a-new-long-passphrase-7"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("a-new-long-passphrase-7")


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(
    client: Client, db: None
) -> None:
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert mail.outbox == []


SPELLINGS = ["Owner@example.com", "OWNER@EXAMPLE.COM", " owner@example.com", "owner@example.com  "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_after_the_lockout_no_other_spelling_of_the_email_signs_in(
    client: Client, owner: User, settings: object, spelling: str
) -> None:
    """The lockout counts the email as sign-in matches it: letter case and spaces aside."""
    for _attempt in range(settings.AXES_FAILURE_LIMIT):  # type: ignore[attr-defined]
        _sign_in(client, owner.email, "wrong")

    response = _sign_in(client, spelling, PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_in_different_spellings_share_one_count(
    client: Client, owner: User, settings: object
) -> None:
    limit = settings.AXES_FAILURE_LIMIT  # type: ignore[attr-defined]
    spellings = [owner.email, *SPELLINGS]
    for attempt in range(limit - 1):
        assert _sign_in(client, spellings[attempt % len(spellings)], "wrong").status_code == 200

    assert _sign_in(client, "  OWNER@example.COM ", "wrong").status_code == 429
    assert _sign_in(client, owner.email, PASSWORD).status_code == 429
    assert "_auth_user_id" not in client.session


def test_a_successful_sign_in_in_another_spelling_clears_the_count(
    client: Client, owner: User, settings: object
) -> None:
    limit = settings.AXES_FAILURE_LIMIT  # type: ignore[attr-defined]
    for _attempt in range(limit - 1):
        _sign_in(client, owner.email, "wrong")
    assert _sign_in(client, "Owner@Example.com ", PASSWORD).status_code == 302
    client.post(reverse("logout"))

    for _attempt in range(limit - 1):
        assert _sign_in(client, owner.email, "wrong").status_code == 200
    assert _sign_in(client, owner.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("length", [255, 256, 300, 5000])
def test_an_overlong_email_is_a_clear_error_not_a_crash(
    client: Client, owner: User, length: int
) -> None:
    email = "a" * (length - len("@example.com")) + "@example.com"
    response = _sign_in(client, email, PASSWORD)
    assert response.status_code == 200
    assert "An email address has at most 254 characters." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_the_overlong_email_error_is_translated(client: Client, db: None) -> None:
    response = client.post(
        reverse("login"),
        {"username": "a" * 300 + "@example.com", "password": "x"},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.status_code == 200
    assert "电子邮件地址最多 254 个字符。" in response.content.decode()


def test_password_reset_for_an_overlong_email_is_a_clear_error(client: Client, db: None) -> None:
    response = client.post(reverse("password_reset"), {"email": "a" * 300 + "@example.com"})
    assert response.status_code == 200
    assert "254" in response.content.decode()
    assert mail.outbox == []


def test_a_lookalike_spelling_that_case_folds_to_the_email_does_not_sign_in(
    client: Client, viewer: User
) -> None:
    """A dotless "ı" upper-cases to "I" as "i" does; it is not another spelling of the address
    (else it would sign in with a lockout count of its own)."""
    assert _sign_in(client, "vıewer@example.com", PASSWORD).status_code == 200
    assert "_auth_user_id" not in client.session
