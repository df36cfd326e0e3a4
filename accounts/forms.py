from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from .models import Account
from .services import COMPANY_FIELDS


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
        }


class SwitchAccountForm(forms.Form):
    account = forms.IntegerField(min_value=1)
    next = forms.CharField(required=False)


class SignInForm(AuthenticationForm):
    """Django's sign-in form, with an error that does not claim the email is case-sensitive."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Please enter a correct email address and password."),
    }
