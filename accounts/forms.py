from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import Account, Membership, TaxIdKind, User
from .phones import phone_display, phone_to_e164
from .services import COMPANY_FIELDS
from .sign_in import limit_email_length
from .tax_ids import tax_id_clean


class CompanyInfoForm(forms.ModelForm[Account]):
    """The company information that invoices carry and "Use company information" fills in."""

    class Meta:
        model = Account
        fields = COMPANY_FIELDS
        widgets = {
            "address_line1": forms.TextInput(attrs={"autocomplete": "address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "postal-code"}),
            "phone": forms.TextInput(attrs={"autocomplete": "tel", "type": "tel"}),
            "company_name": forms.TextInput(attrs={"autocomplete": "organization"}),
            "country": forms.Select(attrs={"autocomplete": "country"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.phone:
            # Kept in E.164; shown as people write it (a value from before numbers were
            # checked is shown as it was).
            self.initial["phone"] = phone_display(
                self.instance.phone, region=str(self.instance.country), international=True
            )

    def clean_phone(self) -> str:
        value: str = self.cleaned_data.get("phone", "").strip()
        if not value:
            return ""
        # A number without a country code is one of the company's country (as just chosen).
        region = str(self.cleaned_data.get("country") or self.instance.country or "")
        return phone_to_e164(value, region=region)


class SwitchAccountForm(forms.Form):
    account = forms.IntegerField(min_value=1)
    next = forms.CharField(required=False)


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with an error that does not claim the email is case-sensitive,
    and a clear error for an email longer than any address."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Please enter a correct email address and password."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limit_email_length(self)


class InviteForm(forms.Form):
    """An owner invites someone to the account."""

    email = forms.EmailField(
        label=_("Email address"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label=_("Role"), choices=Membership.Role.choices, initial=Membership.Role.VIEWER
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Membership.Role.choices)


class NewMemberForm(forms.Form):
    """Someone without a user accepts an invitation: their name and a password."""

    full_name = forms.CharField(
        label=_("Full name"),
        max_length=150,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: object, email: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.email = email

    def clean(self) -> dict[str, object]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif isinstance(first, str):
            try:
                password_validation.validate_password(first, User(email=self.email))
            except ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class CodeForm(forms.Form):
    """A code from the authenticator app (or a recovery code)."""

    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


class SecurityForm(forms.Form):
    require_two_factor = forms.BooleanField(
        label=_("Require two-factor sign-in of every user of this account"), required=False
    )


class TaxIdForm(forms.Form):
    """The account's tax ID, printed on its invoices; for China, also the invoice title."""

    tax_id_kind = forms.ChoiceField(
        label=_("Kind of tax ID"),
        choices=[("", _("No tax ID")), *TaxIdKind.choices],
        required=False,
    )
    tax_id = forms.CharField(
        label=_("Tax ID"),
        max_length=64,
        required=False,
        help_text=_("EU and UK VAT numbers start with their country code, e.g. DE123456789."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    invoice_title = forms.CharField(
        label=_("Invoice title (发票抬头)"),
        max_length=200,
        required=False,
        help_text=_("For a unified social credit code: the company name as the fapiao states it."),
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        kind = cleaned.get("tax_id_kind") or ""
        number = cleaned.get("tax_id") or ""
        if not kind:
            if number.strip():
                self.add_error("tax_id_kind", _("Choose the kind of tax ID."))
            return cleaned
        try:
            cleaned["tax_id"] = tax_id_clean(kind=kind, number=number)
        except ValidationError as error:
            self.add_error("tax_id", error)
        if kind == TaxIdKind.CN_USCC and not (cleaned.get("invoice_title") or "").strip():
            self.add_error(
                "invoice_title", _("Enter the invoice title for a unified social credit code.")
            )
        return cleaned
