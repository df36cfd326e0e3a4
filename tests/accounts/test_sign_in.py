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
