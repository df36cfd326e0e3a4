"""Postal addresses as printed for the reader: the country named in the reader's language."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils import translation
from django_countries import countries


@cache
def _codes_by_name(language: str) -> dict[str, str]:
    with translation.override(language):
        return {str(country.name).casefold(): country.code for country in countries}


def country_code_of(name: str) -> str:
    """The ISO code of a country named in any of the portal's languages, or ""."""
    key = name.strip().casefold()
    for language in ("en", *(code for code, _name in settings.LANGUAGES)):
        code = _codes_by_name(language).get(key)
        if code:
            return code
    return ""


def address_lines_for_reader(text: str) -> list[str]:
    """The lines of an address as written (the seller's from the settings, the buyer's as
    copied onto an invoice when it was issued), with a last line that names a country
    renamed in the active language: an address copied in English still says 中国 to a
    Chinese reader, and one copied in Chinese says China to an English one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if lines and (code := country_code_of(lines[-1])):
        lines[-1] = countries.name(code)
    return lines
