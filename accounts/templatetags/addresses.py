"""Printing a postal address on a page, a PDF or an email in the reader's language."""

from __future__ import annotations

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from accounts.postal import address_lines_for_reader

register = template.Library()


@register.filter
def postal_address(text: str) -> SafeString:
    """The address as escaped lines joined by <br>, its country in the active language."""
    return mark_safe("<br>".join(escape(line) for line in address_lines_for_reader(text)))
