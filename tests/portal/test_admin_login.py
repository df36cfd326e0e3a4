"""The admin's sign-in: password and authenticator code on one form, throttled like the
portal's, and saying nothing about which of the two was wrong."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.utils.timezone import now
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.accounts.otp_codes import next_code
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
INDEX = "/admin/"


@pytest.fixture
def staff(rep: User) -> User:
    """The representative, with an authenticator for the admin's second factor."""
    TOTPDevice.objects.create(user=rep, name="phone", confirmed=True)
    return rep


def _sign_in(client: Client, email: str, password: str, code: str) -> object:
    return client.post(
        LOGIN, {"username": email, "password": password, "otp_token": code, "next": INDEX}
    )


def _page_shape(html: str) -> str:
    """The page without what differs between any two renderings: the CSRF token and nonces."""
    html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)
    return re.sub(r'nonce="[^"]*"', "", html)


def _wrong_code(user: User) -> str:
    right = next_code(user)
    return str((int(right) + 1) % 1_000_000).zfill(6)


def test_the_right_password_and_code_open_the_admin(client: Client, staff: User) -> None:
    response = _sign_in(client, staff.email, PASSWORD, next_code(staff))
    assert response.status_code == 302
    assert client.get(INDEX).status_code == 200


def test_a_wrong_password_and_a_wrong_code_get_the_same_answer(client: Client, staff: User) -> None:
    """Nothing tells someone who guessed the password that it was right: not the status,
    not the message, not the form (no device list, no password sent back)."""
    wrong_password = _sign_in(client, staff.email, "not-the-password", next_code(staff))
    wrong_code = _sign_in(client, staff.email, PASSWORD, _wrong_code(staff))
    no_code = _sign_in(client, staff.email, PASSWORD, "")

    assert wrong_password.status_code == wrong_code.status_code == no_code.status_code == 200
    pages = [_page_shape(r.content.decode()) for r in (wrong_password, wrong_code, no_code)]
    assert "Please enter the correct email address, password and code" in pages[0]
    assert pages[0] == pages[1] == pages[2]
    assert PASSWORD not in pages[1]
    assert "_auth_user_id" not in client.session


def _answer(response: object) -> tuple[int, str, list[str]]:
    """What a response says besides its page: the status, the type and the cookies it sets."""
    cookies = sorted(response.cookies.keys())  # type: ignore[attr-defined]
    return response.status_code, response["Content-Type"], cookies  # type: ignore[attr-defined,index]


@pytest.mark.parametrize("language", ["en", "zh-hans"])
def test_no_wrong_sign_in_tells_the_password_was_right(
    client: Client, staff: User, language: str
) -> None:
    """A wrong password, a wrong code, no code, a code from a throttled authenticator and the
    right password of a customer (not staff): one message, one page, one answer, in English
    and in Chinese, and never django-otp's "Invalid token" (said only after a right password)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = language
    customer = User.objects.create_user(email="customer@example.com", password=PASSWORD)
    answers = [
        _sign_in(client, staff.email, "not-the-password", next_code(staff)),
        _sign_in(client, staff.email, PASSWORD, _wrong_code(staff)),
        _sign_in(client, staff.email, PASSWORD, ""),
        _sign_in(client, customer.email, PASSWORD, "123456"),
    ]
    TOTPDevice.objects.update(throttling_failure_count=5, throttling_failure_timestamp=now())
    answers.append(_sign_in(client, staff.email, PASSWORD, next_code(staff)))

    pages = [
        _page_shape(r.content.decode()).replace(customer.email, staff.email)  # type: ignore[attr-defined]
        for r in answers
    ]
    message = (
        "Please enter the correct email address, password and code of a staff account."
        if language == "en"
        else "正确的电子邮件地址、密码和验证码。"
    )
    assert message in pages[0]
    for page in pages[1:]:
        assert page == pages[0]
    assert all(_answer(r) == _answer(answers[0]) for r in answers)
    assert "Invalid token" not in pages[0] and "令牌" not in pages[0]
    assert "_auth_user_id" not in client.session


def test_a_customers_right_password_counts_towards_the_lockout(
    client: Client, settings: object
) -> None:
    customer = User.objects.create_user(email="customer@example.com", password=PASSWORD)
    for _attempt in range(settings.AXES_FAILURE_LIMIT - 1):  # type: ignore[attr-defined]
        assert _sign_in(client, customer.email, PASSWORD, "123456").status_code == 200
    assert _sign_in(client, customer.email, PASSWORD, "123456").status_code == 429


def test_the_code_field_is_labelled_in_the_readers_language(client: Client) -> None:
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    html = client.get(LOGIN).content.decode()
    assert re.search(r'<label for="id_otp_token"[^>]*>验证码：</label>', html)
    assert "OTP Token" not in html


def test_the_sign_in_page_has_one_heading(client: Client) -> None:
    html = client.get(LOGIN).content.decode()
    assert len(re.findall(r"<h1[ >]", html)) == 1
    assert re.search(r"<h1[^>]*>\s*<a [^>]*>Billing portal administration</a>\s*</h1>", html)


def test_wrong_codes_count_towards_the_lockout_like_wrong_passwords(
    client: Client, staff: User, settings: object
) -> None:
    limit = settings.AXES_FAILURE_LIMIT  # type: ignore[attr-defined]
    for _attempt in range(limit - 1):
        assert _sign_in(client, staff.email, PASSWORD, _wrong_code(staff)).status_code == 200
        TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)
    assert _sign_in(client, staff.email, PASSWORD, _wrong_code(staff)).status_code == 429
    TOTPDevice.objects.update(throttling_failure_count=0, throttling_failure_timestamp=None)

    assert _sign_in(client, staff.email, PASSWORD, next_code(staff)).status_code == 429
    assert "_auth_user_id" not in client.session


SPELLINGS = ["Rep@example.com", "REP@EXAMPLE.COM", " rep@example.com", "rep@example.com "]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_after_the_lockout_no_other_spelling_of_the_email_signs_in(
    client: Client, staff: User, settings: object, spelling: str
) -> None:
    for _attempt in range(settings.AXES_FAILURE_LIMIT):  # type: ignore[attr-defined]
        _sign_in(client, staff.email, "wrong", "000000")

    response = _sign_in(client, spelling, PASSWORD, next_code(staff))

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_wrong_passwords_in_different_spellings_share_one_count(
    client: Client, staff: User, settings: object
) -> None:
    limit = settings.AXES_FAILURE_LIMIT  # type: ignore[attr-defined]
    for attempt in range(limit - 1):
        spelling = SPELLINGS[attempt % len(SPELLINGS)]
        assert _sign_in(client, spelling, "wrong", "000000").status_code == 200

    assert _sign_in(client, "rEp@example.com", "wrong", "000000").status_code == 429
    assert _sign_in(client, staff.email, PASSWORD, next_code(staff)).status_code == 429


def test_an_overlong_email_is_a_clear_error_not_a_crash(client: Client, staff: User) -> None:
    response = _sign_in(client, "a" * 300 + "@example.com", PASSWORD, next_code(staff))
    assert response.status_code == 200
    assert "An email address has at most 254 characters." in response.content.decode()
