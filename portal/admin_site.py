"""The admin site: Django's, asking staff for a second factor (TOTP, django-otp)."""

from __future__ import annotations

from typing import Any

from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class SecondFactorForm(OTPAdminAuthenticationForm):
    """Password and TOTP code on one form: a user with one device need not pick it first."""

    def _chosen_device(self, user: Any) -> Any:
        device = super()._chosen_device(user)
        if device is None:
            devices = list(devices_for_user(user, confirmed=True))
            if len(devices) == 1:
                return devices[0]
        return device


class PortalAdminSite(OTPAdminSite):
    login_form = SecondFactorForm
