from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, PostalAddress

from .models import PaymentMethod
from .services import BillingAddress


class AddCardForm(forms.ModelForm[PaymentMethod]):
    """Billing Address, EU Supported and the contact email; the card itself is the gateway's
    fields, which hand this form nothing but a single-use token. It validates; the card is
    put on file by `payment_method_add`, never by saving this form."""

    use_company_info = forms.BooleanField(label=_("Use company information"), required=False)
    eu_supported = forms.BooleanField(
        label=_("EU Supported"),
        required=False,
        help_text=_("Maintenance and support questions are handled by the European team."),
    )
    card_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=128)

    class Meta:
        model = PaymentMethod
        fields = (*PostalAddress.ADDRESS_FIELDS, "contact_email")
        widgets = {
            "address_line1": forms.TextInput(attrs={"autocomplete": "billing address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "billing address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "billing address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "billing address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "billing postal-code"}),
        }

    field_order = ("use_company_info", *PostalAddress.ADDRESS_FIELDS)

    def __init__(self, *args: Any, account: Account, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        # With "Use company information" the address comes from the account, so no address
        # field is required as such; `clean` asks for the model's required ones otherwise.
        self.required_address = [
            name for name in PostalAddress.ADDRESS_FIELDS if self.fields[name].required
        ]
        for name in PostalAddress.ADDRESS_FIELDS:
            self.fields[name].required = False

    def clean_card_token(self) -> str:
        token: str = self.cleaned_data.get("card_token", "")
        if not token:
            raise forms.ValidationError(_("Enter the card's details."), code="no_token")
        return token

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("use_company_info"):
            # Honoured on the server too: the account's company information, as filed.
            cleaned.update(self.account.address_values())
        else:
            for name in self.required_address:
                if not cleaned.get(name):
                    self.add_error(name, self.fields[name].error_messages["required"])
        return cleaned

    def billing_address(self) -> BillingAddress:
        return BillingAddress(
            **{name: str(self.cleaned_data[name] or "") for name in PostalAddress.ADDRESS_FIELDS}
        )
