"""Two-factor sign-in for the portal's users, on django-otp (which the admin already uses, so
that one authenticator serves both): a TOTP device from an authenticator app, set up with a
QR code rendered on the server, and ten one-time recovery codes for a lost phone. An owner
can require a second factor of every user of the account.

Codes are throttled by django-otp: each wrong code doubles the wait before the next one is
even checked (`OTP_TOTP_THROTTLE_FACTOR`, `OTP_STATIC_THROTTLE_FACTOR`).
"""

from __future__ import annotations

from base64 import b32encode
from dataclasses import dataclass

import qrcode
import qrcode.image.svg
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import (
    ACCOUNT_TWO_FACTOR_REQUIRED,
    TWO_FACTOR_DISABLED,
    TWO_FACTOR_ENABLED,
    TWO_FACTOR_RECOVERY_CODES,
    log_action,
)
from .locks import account_lock
from .models import Account, Membership, User

RECOVERY_CODES = 10
AUTHENTICATOR = "authenticator"
RECOVERY = "recovery codes"


class TwoFactorError(Exception):
    """What the user is told when a second-factor change cannot be made."""


@dataclass(frozen=True)
class CodeCheck:
    """A code's check: whether it was right, and if not, how long until the next try."""

    ok: bool
    wait_seconds: int = 0


def second_factor_state(user: User) -> tuple[bool, bool]:
    """Whether the user has a second factor, and whether an account of theirs requires
    one: one query, made on every page of an unverified session."""
    has, required = (
        User.objects.filter(pk=user.pk)
        .annotate(
            has=Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
            required=Exists(
                Membership.objects.filter(user=OuterRef("pk"), account__require_two_factor=True)
            ),
        )
        .values_list("has", "required")
        .get()
    )
    return bool(has), bool(required)


def has_two_factor(user: User) -> bool:
    return bool(TOTPDevice.objects.filter(user=user, confirmed=True).exists())


def two_factor_required(user: User) -> bool:
    """An account of the user requires a second factor of every user."""
    return Membership.objects.filter(user=user, account__require_two_factor=True).exists()


def totp_start(user: User) -> TOTPDevice:
    """A new authenticator for `user`, not yet confirmed (the one in progress, if any)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").last()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def totp_qr_svg(device: TOTPDevice) -> str:
    """The QR code an authenticator app scans, as inline SVG (made here, sent nowhere)."""
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    svg: bytes = image.to_string()
    return svg.decode()


def totp_secret(device: TOTPDevice) -> str:
    """The key in base32, for typing into an app that cannot scan, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _recovery_codes(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _check(device: TOTPDevice | StaticDevice, token: str) -> CodeCheck:
    allowed, detail = device.verify_is_allowed()
    if not allowed:
        locked_until = (detail or {}).get("locked_until")
        wait = int((locked_until - timezone.now()).total_seconds()) + 1 if locked_until else 1
        return CodeCheck(ok=False, wait_seconds=max(wait, 1))
    return CodeCheck(ok=bool(device.verify_token(token)))


@transaction.atomic
def totp_confirm(*, user: User, token: str) -> list[str] | CodeCheck:
    """Confirm the authenticator in progress with a code it shows: second-factor sign-in is
    on, and the ten recovery codes (shown once) are returned. A wrong code gives its check."""
    device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).last()
    if device is None:
        raise TwoFactorError(_("No authenticator is being set up."))
    checked = _check(device, _digits(token))
    if not checked.ok:
        return checked
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    log_action(TWO_FACTOR_ENABLED, obj=user, account=None, actor=user)
    return _recovery_codes(user)


def _digits(token: str) -> str:
    return "".join(token.split())


def session_verified(request: HttpRequest, device: TOTPDevice | StaticDevice) -> None:
    """Mark the session verified by `device`, under a new session key: a cookie taken between
    the password and the code (a fixated one, a shared computer's) is not the verified one."""
    otp_login(request, device)
    request.session.cycle_key()


@transaction.atomic
def second_factor_check(
    user: User, token: str
) -> tuple[TOTPDevice | StaticDevice | None, CodeCheck]:
    """Check a code of the user's authenticator, or one of their recovery codes (used up by
    it): the device it is right for, or None and how long until the next try. The devices are
    locked, so that a code (or recovery code) given twice at once is still good only once."""
    token = _digits(token)
    devices: list[TOTPDevice | StaticDevice] = [
        *TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"),
        *StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"),
    ]
    wait = 0
    for device in devices:
        checked = _check(device, token)
        if checked.ok:
            return device, checked
        wait = max(wait, checked.wait_seconds)
    return None, CodeCheck(ok=False, wait_seconds=wait)


def verify_second_factor(request: HttpRequest, token: str) -> CodeCheck:
    """Check a code of the signed-in user's authenticator, or one of their recovery codes
    (used up by it); a right one marks the session verified."""
    device, checked = second_factor_check(request.user, token)  # type: ignore[arg-type]
    if device is not None:
        session_verified(request, device)
    return checked


@transaction.atomic
def two_factor_disable(*, user: User, token: str) -> CodeCheck:
    """Turn second-factor sign-in off, with a current code (or a recovery code). Refused
    while an account of the user requires it."""
    if two_factor_required(user):
        raise TwoFactorError(_("An account of yours requires a second factor."))
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    recovery = StaticDevice.objects.filter(user=user).first()
    checked = CodeCheck(ok=False)
    for candidate in (device, recovery):
        if candidate is not None:
            checked = _check(candidate, _digits(token))
            if checked.ok:
                break
    if not checked.ok:
        return checked
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    log_action(TWO_FACTOR_DISABLED, obj=user, account=None, actor=user)
    return checked


@transaction.atomic
def recovery_codes_renew(*, user: User, token: str) -> list[str] | CodeCheck:
    """New recovery codes (the old ones stop working), with a current code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        raise TwoFactorError(_("Second-factor sign-in is off."))
    checked = _check(device, _digits(token))
    if not checked.ok:
        return checked
    log_action(TWO_FACTOR_RECOVERY_CODES, obj=user, account=None, actor=user)
    return _recovery_codes(user)


def recovery_codes_left(user: User) -> int:
    return int(StaticToken.objects.filter(device__user=user).count())


@transaction.atomic
def account_require_two_factor(*, account: Account, by: User, required: bool) -> Account:
    """An owner requires (or stops requiring) a second factor of every user of the account.
    They must have one themselves first, so that they keep their way in."""
    account = account_lock(account.pk)
    if not Membership.objects.filter(account=account, user=by, role=Membership.Role.OWNER).exists():
        raise PermissionDenied("Only an owner may change the account's security.")
    if required and not has_two_factor(by):
        raise TwoFactorError(_("Set up two-factor sign-in for yourself first."))
    if account.require_two_factor != required:
        account.require_two_factor = required
        account.save(update_fields=["require_two_factor"])
        log_action(
            ACCOUNT_TWO_FACTOR_REQUIRED, obj=account, account=account, actor=by, required=required
        )
    return account
