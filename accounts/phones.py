"""Phone numbers: read as the customer writes them, with the account's country for a number
written without its country code, kept in E.164 (+862155550100), shown formatted."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

_INTERNATIONAL = phonenumbers.PhoneNumberFormat.INTERNATIONAL
_NATIONAL = phonenumbers.PhoneNumberFormat.NATIONAL


def _parse(value: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(value, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


def phone_to_e164(value: str, *, region: str) -> str:
    """The number in E.164, `region` (an ISO 3166 country code) being the country of a
    number written without one. Raises ValidationError, with an example number of the
    region, when it is not a phone number there or anywhere."""
    number = _parse(value, region)
    if number is None:
        example = (region and phonenumbers.example_number(region.upper())) or (
            phonenumbers.example_number("US")
        )
        assert example is not None
        raise ValidationError(
            gettext("Enter a valid phone number, such as %(example)s.")
            % {"example": phonenumbers.format_number(example, _INTERNATIONAL)},
            code="invalid_phone",
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_display(value: str, *, region: str = "", international: bool = False) -> str:
    """The number as people write it: national when it is in `region`, international
    otherwise (or when asked). A value that is not a phone number (one saved before numbers
    were checked) is shown as it was written."""
    if not value:
        return ""
    number = _parse(value, region)
    if number is None:
        return value
    same_region = bool(region) and phonenumbers.region_code_for_number(number) == region.upper()
    kind = _NATIONAL if same_region and not international else _INTERNATIONAL
    return phonenumbers.format_number(number, kind)
