"""Postal addresses as printed for the reader: the country named in the reader's language."""

from __future__ import annotations

from functools import cache

from django.conf import settings
from django.utils import translation
from django_countries import countries

# Everyday names that the ISO list (django-countries) spells otherwise ("United States of
# America"), as a seller's address in the settings may, by the language they are written in.
EVERYDAY_NAMES = {
    "en": {"united states": "US", "usa": "US", "uk": "GB", "great britain": "GB"},
    "zh-hans": {"中华人民共和国": "CN"},
}


@cache
def _codes_by_name(language: str) -> dict[str, str]:
    with translation.override(language):
        names = {str(country.name).casefold(): country.code for country in countries}
        for code, others in countries.shadowed_names.items():
            names.update((str(name).casefold(), code) for name in others)
    names.update(EVERYDAY_NAMES.get(language, {}))
    return names


def _code_in(language: str, name: str) -> str:
    return _codes_by_name(language).get(name.strip().casefold(), "")


def country_code_of(name: str) -> str:
    """The ISO code of a country named in any of the portal's languages, or ""."""
    for language, _name in settings.LANGUAGES:
        if code := _code_in(language, name):
            return code
    return ""


def address_lines_for_reader(text: str) -> list[str]:
    """The lines of an address as written (the seller's from the settings, the buyer's as
    copied onto an invoice when it was issued), with a last line that names a country in
    another language renamed in the active one: an address copied in English says 中国 to
    a Chinese reader, and one copied in Chinese says China to an English one."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    language = translation.get_language() or settings.LANGUAGE_CODE
    if lines and not _code_in(language, lines[-1]) and (code := country_code_of(lines[-1])):
        lines[-1] = countries.name(code)
    return lines
