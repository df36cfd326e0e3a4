from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from accounts.models import Account

from .services import BillingAddress

ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "region", "postal_code", "country")


class AddCardForm(forms.Form):
    """Billing Address, EU Supported and the contact email; the card itself is the gateway's
    fields, which hand this form nothing but a single-use token."""

    use_company_info = forms.BooleanField(label=_("Use company information"), required=False)
    address_line1 = forms.CharField(
        label=_("Address"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "billing address-line1"}),
    )
    address_line2 = forms.CharField(
        label=_("Address line 2"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "billing address-line2"}),
    )
    city = forms.CharField(
        label=_("City"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "billing address-level2"}),
    )
    region = forms.CharField(
        label=_("State or province"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "billing address-level1"}),
    )
    postal_code = forms.CharField(
        label=_("Postal code"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "billing postal-code"}),
    )
    country = CountryField(blank=True).formfield(label=_("Country"), required=False)
    eu_supported = forms.BooleanField(
        label=_("EU Supported"),
        required=False,
        help_text=_("Maintenance and support questions are handled by the European team."),
    )
    contact_email = forms.EmailField(
        label=_("Contact email"),
        help_text=_("Status changes of this card are emailed here."),
    )
    card_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=128)

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def clean_card_token(self) -> str:
        token: str = self.cleaned_data.get("card_token", "")
        if not token:
            raise forms.ValidationError(_("Enter the card's details."), code="no_token")
        return token

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("use_company_info"):
            # Honoured on the server too: the account's company information, as filed.
            address = BillingAddress.of_account(self.account)
            cleaned.update(address.__dict__)
        else:
            for name in ("address_line1", "city", "country"):
                if not cleaned.get(name):
                    self.add_error(
                        name, forms.ValidationError(_("This field is required."), code="required")
                    )
        return cleaned

    def billing_address(self) -> BillingAddress:
        return BillingAddress(
            **{name: str(self.cleaned_data[name] or "") for name in ADDRESS_FIELDS}
        )
