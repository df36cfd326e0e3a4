"""Two-factor sign-in against someone who knows only the password: the second factor cannot
be skipped, replaced, raced or carried over in a session taken before it was given; and staff
keep signing in to the admin with their code."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
VERIFY = "/account/two-factor/verify/"
SETUP = "/account/two-factor/setup/"


def _authenticator(user: User, *, confirmed: bool = True) -> TOTPDevice:
    device: TOTPDevice = TOTPDevice.objects.create(
        user=user, name="authenticator", confirmed=confirmed
    )
    return device


def _code(device: TOTPDevice) -> str:
    device.refresh_from_db()
    return str(totp(device.bin_key, device.step, device.t0, device.digits, device.drift)).zfill(6)


def _recovery_code(user: User) -> str:
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    token: str = StaticToken.random_token()
    StaticToken.objects.create(device=device, token=token)
    return token


def _password_only(client: Client, user: User) -> None:
    response = client.post(reverse("login"), {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_a_password_alone_cannot_put_a_new_authenticator_in_place_of_the_users(
    client: Client, owner: User
) -> None:
    """The setup page is not a way around the code: a session that has not given the
    second factor is sent to give it, and a code of an authenticator of its own proves
    nothing."""
    device = _authenticator(owner)
    _password_only(client, owner)
    page = client.get(SETUP)
    assert page.status_code == 302 and page["Location"].startswith(VERIFY)
    assert "totp-secret" not in page.content.decode()
    theirs = _authenticator(owner, confirmed=False)
    response = client.post(SETUP, {"code": _code(theirs)})
    assert response.status_code == 302 and response["Location"].startswith(VERIFY)
    assert list(TOTPDevice.objects.filter(user=owner, confirmed=True)) == [device]
    assert client.get("/billing/invoices/").status_code == 302


def test_staff_cannot_give_themselves_an_authenticator_with_a_password(
    client: Client, rep: User
) -> None:
    """The admin trusts any authenticator of the user: a member of staff whose authenticator
    an administrator has not issued yet cannot make one with a password and walk in."""
    _password_only(client, rep)
    assert client.get(SETUP).status_code == 403
    theirs = _authenticator(rep, confirmed=False)
    assert client.post(SETUP, {"code": _code(theirs)}).status_code == 403
    assert not TOTPDevice.objects.filter(user=rep, confirmed=True).exists()
    assert client.get("/admin/").status_code == 302


def test_staff_who_gave_their_code_may_replace_their_authenticator(
    client: Client, rep: User
) -> None:
    device = _authenticator(rep)
    _password_only(client, rep)
    assert client.post(VERIFY, {"code": _code(device)}).status_code == 302
    assert client.get(SETUP).status_code == 200


def test_the_session_is_renewed_when_the_second_factor_is_given(
    client: Client, owner: User
) -> None:
    """A session cookie taken after the password (a shared computer, a fixated cookie) is not
    the one that the code verifies: it stops working instead."""
    device = _authenticator(owner)
    _password_only(client, owner)
    before = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.post(VERIFY, {"code": _code(device)}).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before
    assert client.get("/billing/invoices/").status_code == 200
    taken = Client()
    taken.cookies[settings.SESSION_COOKIE_NAME] = before
    response = taken.get("/billing/invoices/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_the_session_is_renewed_when_a_new_authenticator_verifies_it(
    client: Client, owner: User
) -> None:
    _password_only(client, owner)
    client.get(SETUP)
    before = client.cookies[settings.SESSION_COOKIE_NAME].value
    pending = TOTPDevice.objects.get(user=owner, confirmed=False)
    assert client.post(SETUP, {"code": _code(pending)}).status_code == 200
    assert client.cookies[settings.SESSION_COOKIE_NAME].value != before
    assert client.get("/billing/invoices/").status_code == 200


def test_staff_with_recovery_codes_still_sign_in_to_the_admin_with_a_code(
    client: Client, approver: User
) -> None:
    """Recovery codes are a second device: the admin's one-form sign-in must not ask the
    member of staff to pick a device it cannot list."""
    device = _authenticator(approver)
    recovery = _recovery_code(approver)
    login = reverse("admin:login")
    changelist = reverse("admin:payments_paymentmethod_changelist")
    response = client.post(
        login,
        {"username": approver.email, "password": PASSWORD, "otp_token": _code(device)},
    )
    assert response.status_code == 302, response.content.decode()
    assert client.get(changelist).status_code == 200
    client.logout()
    response = client.post(
        login, {"username": approver.email, "password": PASSWORD, "otp_token": recovery}
    )
    assert response.status_code == 302, response.content.decode()
    assert client.get(changelist).status_code == 200
    assert not StaticToken.objects.filter(token=recovery).exists()


def _use_meanwhile(verify: object, ready: threading.Event) -> None:
    """Another sign-in uses the code first, holding its lock a moment before it commits."""
    try:
        with transaction.atomic():
            assert verify()
            ready.set()
            time.sleep(0.5)
    finally:
        ready.set()
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_a_code_used_by_another_sign_in_at_the_same_moment_is_refused(
    client: Client, owner: User
) -> None:
    device = _authenticator(owner)
    code = _code(device)
    _password_only(client, owner)
    ready = threading.Event()

    def verify() -> bool:
        return bool(TOTPDevice.objects.select_for_update().get(pk=device.pk).verify_token(code))

    other = threading.Thread(target=_use_meanwhile, args=(verify, ready))
    other.start()
    ready.wait(5)
    replayed = client.post(VERIFY, {"code": code})
    other.join()
    assert replayed.status_code == 400
    assert client.get("/billing/invoices/").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_a_recovery_code_used_twice_at_the_same_moment_signs_in_once(
    client: Client, owner: User
) -> None:
    _authenticator(owner)
    recovery = _recovery_code(owner)
    _password_only(client, owner)
    ready = threading.Event()

    def verify() -> bool:
        device = StaticDevice.objects.select_for_update().get(user=owner)
        return bool(device.verify_token(recovery))

    other = threading.Thread(target=_use_meanwhile, args=(verify, ready))
    other.start()
    ready.wait(5)
    replayed = client.post(VERIFY, {"code": recovery})
    other.join()
    assert replayed.status_code == 400
    assert client.get("/billing/invoices/").status_code == 302


def _every_portal_path() -> list[str]:
    """Every URL of the portal, with 1 (or `x`) for its arguments."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[object], prefix: str) -> list[str]:
        paths: list[str] = []
        for pattern in patterns:
            route = str(pattern.pattern)  # type: ignore[attr-defined]
            route = re.sub(r"<int:\w+>", "1", re.sub(r"<(str|slug|path):\w+>", "x", route))
            if isinstance(pattern, URLResolver):
                paths += walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                paths.append(prefix + route)
        return paths

    return sorted(set(walk(get_resolver().url_patterns, "/")))


def test_no_page_of_the_portal_is_reached_with_a_password_alone(
    client: Client, owner: User
) -> None:
    """Every URL (downloads, JSON and htmx answers, card payments, PayPal's return...) sends
    an unverified session to the code; only signing out, the language switch, static files,
    the health check and the admin (which asks for its own code) are left open."""
    _authenticator(owner)
    _password_only(client, owner)
    open_paths = ("/admin/", "/static/", "/i18n/", "/healthz", "/logout/", VERIFY)
    checked = 0
    for path in _every_portal_path():
        if path.startswith(open_paths) or "^" in path:
            continue
        for method in (client.get, client.post):
            response = method(path, HTTP_HX_REQUEST="true")
            assert response.status_code == 302, (path, response.status_code)
            assert response["Location"].startswith(VERIFY), path
        checked += 1
    assert checked > 30


def test_pages_that_show_a_secret_are_never_stored(
    client: Client, owner: User, account: object
) -> None:
    """The authenticator's key, the recovery codes and an invitation's page are kept by no
    browser or proxy cache (a shared computer's Back button, a caching proxy)."""
    from accounts.team import team_invite

    client.force_login(owner)
    setup = client.get(SETUP)
    assert "no-store" in setup["Cache-Control"]
    pending = TOTPDevice.objects.get(user=owner, confirmed=False)
    codes = client.post(SETUP, {"code": _code(pending)})
    assert codes.status_code == 200 and "no-store" in codes["Cache-Control"]
    device = TOTPDevice.objects.get(user=owner, confirmed=True)
    device.last_t = -1  # the code may be given again within the same step, for the test
    device.save(update_fields=["last_t"])
    renewed = client.post("/account/two-factor/", {"code": _code(device)})
    assert renewed.status_code == 200 and "no-store" in renewed["Cache-Control"]
    sent = team_invite(account=account, by=owner, email="cache@example.com", role="viewer")  # type: ignore[arg-type]
    assert "no-store" in Client().get(f"/account/invitation/{sent.token}/")["Cache-Control"]
