from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Account, PostalAddress

from .card_checks import BillingAddress
from .chosen import chosen_ids_parse, chosen_invoices_check
from .errors import PaymentError
from .models import PaymentMethod
from .one_time import validate_amount


class CardAddressForm(forms.ModelForm[PaymentMethod]):
    """A card's billing address ("Use company information" fills it from the account), EU
    Supported, and the single-use token the gateway's card fields hand over: the card itself
    never reaches this form. It validates; it saves nothing."""

    use_company_info = forms.BooleanField(label=_("Use company information"), required=False)
    eu_supported = forms.BooleanField(
        label=_("EU Supported"),
        required=False,
        help_text=_("Maintenance and support questions are handled by the European team."),
    )
    card_token = forms.CharField(widget=forms.HiddenInput, required=False, max_length=128)
    # Where the error summary sends the customer for the card token: the gateway's fields
    # (each adapter's card fields template has an element of this id).
    error_anchors = {"card_token": "card-fields"}

    class Meta:
        model = PaymentMethod
        fields = PostalAddress.ADDRESS_FIELDS
        widgets = {
            "address_line1": forms.TextInput(attrs={"autocomplete": "billing address-line1"}),
            "address_line2": forms.TextInput(attrs={"autocomplete": "billing address-line2"}),
            "city": forms.TextInput(attrs={"autocomplete": "billing address-level2"}),
            "region": forms.TextInput(attrs={"autocomplete": "billing address-level1"}),
            "postal_code": forms.TextInput(attrs={"autocomplete": "billing postal-code"}),
            "country": forms.Select(attrs={"autocomplete": "billing country"}),
        }

    field_order = ("use_company_info", *PostalAddress.ADDRESS_FIELDS)

    def __init__(
        self, *args: Any, account: Account, token_required: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        # The form that starts a payment confirmed in the browser has no card yet.
        self.token_required = token_required
        # With "Use company information" the address comes from the account, so no address
        # field is required as such; `clean` asks for the model's required ones otherwise.
        self.required_address = [
            name for name in PostalAddress.ADDRESS_FIELDS if self.fields[name].required
        ]
        for name in PostalAddress.ADDRESS_FIELDS:
            self.fields[name].required = False
        # ...but they are marked required, and say so to the browser (the filled-in company
        # information satisfies them too).
        for name in self.required_address:
            self.fields[name].widget.attrs["required"] = True

    def clean_card_token(self) -> str:
        token: str = self.cleaned_data.get("card_token", "")
        if not token and self.token_required:
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


class AddCardForm(CardAddressForm):
    """Add Credit Card: the billing address and a contact email for the status emails; the
    card is put on file by `payment_method_add`, never by saving this form."""

    class Meta(CardAddressForm.Meta):
        fields = (*PostalAddress.ADDRESS_FIELDS, "contact_email")
        widgets = {
            **CardAddressForm.Meta.widgets,
            "contact_email": forms.EmailInput(attrs={"autocomplete": "email"}),
        }


# A form whose hidden key is missing or not one the portal made: reloading gives a new one.
FORM_EXPIRED = _("This form has expired. Reload the page and try again.")


class PaymentForm(forms.Form):
    """Payment Amount: above zero, in the currency's exponent, at most the balance. The key
    makes a resubmitted form (a double click, a refresh, a replay) the same payment. The
    chosen invoices, if any, must be open charges of the account in the form's currency."""

    amount = forms.DecimalField(label=_("Payment Amount"), max_digits=18)
    currency = forms.CharField(
        widget=forms.HiddenInput,
        max_length=3,
        error_messages={
            "required": _("Nothing is owed in this currency."),
            "max_length": _("Nothing is owed in this currency."),
        },
    )
    key = forms.CharField(
        widget=forms.HiddenInput,
        min_length=16,
        max_length=64,
        error_messages={
            "required": FORM_EXPIRED,
            "min_length": FORM_EXPIRED,
            "max_length": FORM_EXPIRED,
            "null_characters_not_allowed": FORM_EXPIRED,
        },
    )

    # The invoices the customer chose to pay first, in order ("3,7"): `payments.chosen`.
    invoices = forms.CharField(widget=forms.HiddenInput, required=False, max_length=1400)

    def __init__(self, *args: Any, account: Account, currencies: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account = account
        self.currencies = currencies
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    def clean_invoices(self) -> list[int]:
        try:
            return chosen_ids_parse([self.cleaned_data.get("invoices") or ""])
        except PaymentError as error:
            raise forms.ValidationError(str(error), code="invoices") from error

    def clean_currency(self) -> str:
        currency: str = self.cleaned_data["currency"]
        if currency not in self.currencies:
            raise forms.ValidationError(_("Nothing is owed in this currency."), code="currency")
        return currency

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        amount, currency = cleaned.get("amount"), cleaned.get("currency")
        chosen = cleaned.get("invoices")
        if chosen and currency:
            try:
                chosen_invoices_check(account=self.account, ids=chosen, currency=currency)
            except PaymentError as error:
                self.add_error(None, str(error))
                return cleaned
        if amount is not None and currency:
            try:
                validate_amount(account=self.account, amount=amount, currency=currency)
            except PaymentError as error:
                self.add_error("amount", str(error))
        return cleaned


class CardPaymentForm(CardAddressForm):
    """Pay with Credit Card: the card's billing address and its single-use token."""
