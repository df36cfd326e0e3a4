"""What a user's authenticator app shows, for the tests."""

from __future__ import annotations

from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User


def next_code(user: User, *, confirmed: bool = True) -> str:
    """The code the user's authenticator shows for the next time step (django-otp accepts one
    step of drift, and never a step already used)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=confirmed).order_by("pk").last()
    assert device is not None
    code = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + 1)
    return str(code).zfill(device.digits)
