"""The admin site: Django's, asking staff for a second factor (TOTP, django-otp)."""

from __future__ import annotations

from typing import Any

from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice


class SecondFactorForm(OTPAdminAuthenticationForm):
    """Password and code on one form, with no device to pick (the form cannot list a user's
    devices before the password): a code of digits is for the authenticator, anything else
    one of the recovery codes made with two-factor sign-in on the portal."""

    def _chosen_device(self, user: Any) -> Any:
        device = super()._chosen_device(user)
        if device is None:
            token = "".join(str(self.cleaned_data.get("otp_token") or "").split())
            kind = TOTPDevice if token.isdigit() else StaticDevice
            devices = [
                d
                for d in devices_for_user(user, confirmed=True, for_verify=True)
                if isinstance(d, kind)
            ]
            if len(devices) == 1:
                return devices[0]
        return device


class PortalAdminSite(OTPAdminSite):
    login_form = SecondFactorForm
