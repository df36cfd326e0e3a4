"""What sign-in, on the portal and on the admin, takes an email address to mean: one key for
finding the user and for counting failed attempts (django-axes), so that no other spelling of
an address (letter case, spaces around it, compatibility characters) finds the same user
with a count of its own."""

from __future__ import annotations

import unicodedata
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

# RFC 5321's limit on an address, as the user's email field has it.
EMAIL_MAX_LENGTH = 254

email_length_validator = MaxLengthValidator(
    EMAIL_MAX_LENGTH,
    message=_("An email address has at most %(limit_value)d characters."),
)


def sign_in_key(email: str) -> str:
    """The address as sign-in compares it: NFKC, trimmed, in lower case. Users are found by
    `LOWER(email)` equal to this key (so every input that finds a user has the same key), and
    the lockout counts failures by it."""
    return unicodedata.normalize("NFKC", email).strip().lower()


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the email the lockout counts, as its sign-in key. Longer than
    any address it is cut (no user has it; axes keeps at most 255 characters)."""
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials is not None:
        value = credentials.get(field)
    else:
        value = getattr(request, "POST", {}).get(field)
    if not isinstance(value, str):
        return None
    return sign_in_key(value)[: EMAIL_MAX_LENGTH + 1]


def limit_email_length(form: forms.Form) -> None:
    """Refuse an over-long email on a sign-in form with a clear error, before any lookup or
    count (Django's AuthenticationForm sets the field's max_length without validating it)."""
    field = form.fields["username"]
    assert isinstance(field, forms.CharField)
    field.max_length = EMAIL_MAX_LENGTH
    field.widget.attrs["maxlength"] = str(EMAIL_MAX_LENGTH)
    if email_length_validator not in field.validators:
        field.validators.append(email_length_validator)
