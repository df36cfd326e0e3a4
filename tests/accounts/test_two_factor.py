"""Two-factor sign-in for customers: an authenticator (TOTP) set up with a QR code, ten
recovery codes, the code asked for after the password, throttled; an owner may require it
of every user of the account."""

from __future__ import annotations

import re
import time

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Account, AuditEntry, Membership, User
from accounts.two_factor import TwoFactorError, account_require_two_factor
from tests.accounts.otp_codes import next_code

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery-staple"
# django-otp's wait after one wrong code (OTP_TOTP_THROTTLE_FACTOR: 1 s, doubling).
THROTTLED = 1.1


def _set_up(client: Client, user: User) -> list[str]:
    page = client.get("/account/two-factor/setup/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'data-testid="totp-secret"' in html
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    code = str(totp(device.bin_key, device.step, device.t0, device.digits)).zfill(6)
    done = client.post("/account/two-factor/setup/", {"code": code})
    assert done.status_code == 200, done.content.decode()
    return re.findall(r"<li><code>(\w+)</code></li>", done.content.decode())


def _sign_in(client: Client, user: User) -> None:
    client.logout()
    response = client.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302


@pytest.fixture
def member(owner: User) -> User:
    owner.set_password(PASSWORD)
    owner.save()
    return owner


def test_setting_up_an_authenticator_gives_ten_recovery_codes_once(
    client: Client, member: User
) -> None:
    client.force_login(member)
    wrong = client.post("/account/two-factor/setup/", {"code": "000000"})
    assert wrong.status_code == 400 and "not right" in wrong.content.decode()
    time.sleep(THROTTLED)
    codes = _set_up(client, member)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert TOTPDevice.objects.filter(user=member, confirmed=True).count() == 1
    assert AuditEntry.objects.filter(action="accounts.user.two_factor_on", actor=member).exists()
    page = client.get("/account/two-factor/").content.decode()
    assert "10 recovery codes are left." in page
    assert not any(code in page for code in codes)


def test_after_the_password_the_code_is_asked_for_before_any_page(
    client: Client, member: User
) -> None:
    client.force_login(member)
    _set_up(client, member)
    _sign_in(client, member)
    blocked = client.get("/billing/invoices/")
    assert blocked.status_code == 302
    assert blocked["Location"].startswith("/account/two-factor/verify/?next=")
    assert client.get("/payments/").status_code == 302
    wrong = client.post("/account/two-factor/verify/", {"code": "123456", "next": "/payments/"})
    assert wrong.status_code == 400
    time.sleep(THROTTLED)
    right = client.post(
        "/account/two-factor/verify/", {"code": next_code(member), "next": "/payments/"}
    )
    assert (right.status_code, right["Location"]) == (302, "/payments/")
    assert client.get("/billing/invoices/").status_code == 200


def test_a_recovery_code_signs_in_once(client: Client, member: User) -> None:
    client.force_login(member)
    codes = _set_up(client, member)
    _sign_in(client, member)
    assert client.post("/account/two-factor/verify/", {"code": codes[0]}).status_code == 302
    assert StaticToken.objects.filter(device__user=member).count() == 9
    _sign_in(client, member)
    again = client.post("/account/two-factor/verify/", {"code": codes[0]})
    assert again.status_code == 400
    assert client.get("/billing/invoices/").status_code == 302


def test_wrong_codes_are_throttled(client: Client, member: User) -> None:
    client.force_login(member)
    _set_up(client, member)
    _sign_in(client, member)
    client.post("/account/two-factor/verify/", {"code": "000000"})
    client.post("/account/two-factor/verify/", {"code": "000001"})
    throttled = client.post("/account/two-factor/verify/", {"code": next_code(member)})
    assert throttled.status_code == 400
    assert "Too many wrong codes" in throttled.content.decode()
    assert client.get("/billing/invoices/").status_code == 302


def test_turning_it_off_takes_a_code(client: Client, member: User) -> None:
    client.force_login(member)
    _set_up(client, member)
    refused = client.post("/account/two-factor/", {"code": "000000", "disable": "1"})
    assert refused.status_code == 400
    assert TOTPDevice.objects.filter(user=member).exists()
    time.sleep(THROTTLED)
    off = client.post("/account/two-factor/", {"code": next_code(member), "disable": "1"})
    assert off.status_code == 302
    assert not TOTPDevice.objects.filter(user=member).exists()
    assert not StaticToken.objects.filter(device__user=member).exists()


def test_an_owner_requires_it_of_every_user_once_they_have_it(
    client: Client, account: Account, member: User, viewer: User
) -> None:
    with pytest.raises(TwoFactorError, match="for yourself first"):
        account_require_two_factor(account=account, by=member, required=True)
    client.force_login(member)
    _set_up(client, member)
    response = client.post("/account/security/", {"require_two_factor": "on"})
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.require_two_factor
    assert AuditEntry.objects.filter(action="accounts.account.two_factor_required").exists()

    # A viewer without a second factor sets one up before any page.
    other = Client()
    other.force_login(viewer)
    sent_to_setup = other.get("/billing/invoices/")
    assert sent_to_setup["Location"].startswith("/account/two-factor/setup/")
    assert "requires a second factor" in other.get("/account/two-factor/setup/").content.decode()
    _set_up(other, viewer)
    assert other.get("/billing/invoices/").status_code == 200
    # ...and cannot turn it off while the account requires it.
    kept = other.post("/account/two-factor/", {"code": next_code(viewer), "disable": "1"})
    assert kept.status_code == 400 and TOTPDevice.objects.filter(user=viewer).exists()


def test_only_an_owner_changes_the_requirement(viewer_client: Client, account: Account) -> None:
    assert viewer_client.post("/account/security/", {"require_two_factor": "on"}).status_code == 403
    account.refresh_from_db()
    assert not account.require_two_factor
    assert Membership.objects.filter(account=account).exists()


def test_a_user_without_a_second_factor_signs_in_as_before(client: Client, member: User) -> None:
    _sign_in(client, member)
    assert client.get("/billing/invoices/").status_code == 200
