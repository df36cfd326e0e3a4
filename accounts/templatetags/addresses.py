"""Printing a postal address on a page, a PDF or an email in the reader's language."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils.safestring import SafeString

from accounts.postal import address_lines_for_reader

register = template.Library()


@register.filter
def postal_address(text: str) -> SafeString:
    """The address as escaped lines joined by <br>, its country in the active language."""
    return linebreaksbr("\n".join(address_lines_for_reader(text)), autoescape=True)
