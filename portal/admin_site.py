"""The admin site: Django's, asking staff for a second factor (TOTP, django-otp)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite

from accounts.sign_in import limit_email_length
from accounts.two_factor import second_factor_check

# The code field's label in django-otp's admin login template ({% trans 'OTP Token:' %}),
# which django-otp translates into no Chinese: named here so the portal's catalog has it.
gettext_noop("OTP Token:")


class _CodeInput(forms.TextInput):
    """A one-time code is never sent back: a wrong one is of no use, a right one is spent."""

    def format_value(self, value: Any) -> str | None:
        return None


class SecondFactorForm(OTPAdminAuthenticationForm):
    """Password and authenticator code (or a recovery code) on one form.

    Whatever was wrong (the password, the code, no code, a device throttled after wrong
    codes), the answer is the same: one error, the same form (no device list, no password
    sent back), and a failed attempt that counts towards the sign-in lockout. A guessed
    password is never confirmed, and codes are throttled like passwords.
    """

    error_messages = {
        **OTPAdminAuthenticationForm.error_messages,
        "invalid_login": _(
            "Please enter the correct email address, password and code of a staff account."
        ),
    }

    otp_token = forms.CharField(
        required=False,
        widget=_CodeInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_email_length(self)

    def clean(self) -> dict[str, Any]:
        # The password (and staff status) first, as Django's admin form checks them. A right
        # password of someone not staff is refused there with the user still remembered,
        # which would show the device list: forget them, and count it, as any failure.
        try:
            cleaned: dict[str, Any] = AdminAuthenticationForm.clean(self)
        except forms.ValidationError:
            if self.get_user() is not None:
                self.user_cache = None
                self._failed()
            raise
        user = self.get_user()
        device, _checked = second_factor_check(user, cleaned.get("otp_token") or "")
        if device is None:
            self.user_cache = None
            self._failed()
            raise self.get_invalid_login_error()
        user.otp_device = device  # django-otp marks the session verified on login
        return cleaned

    def _failed(self) -> None:
        """Count a failure the password check did not count (towards the lockout)."""
        user_login_failed.send(
            sender=type(self),
            credentials={"username": self.cleaned_data.get("username")},
            request=self.request,
        )


class PortalAdminSite(OTPAdminSite):
    login_form = SecondFactorForm
    login_template = "admin/login.html"  # django-otp's, with a heading
