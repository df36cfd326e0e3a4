"""Laying a notice's text out as HTML."""

from __future__ import annotations

import re

from django import template
from django.conf import settings
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

_URL = re.compile(r"https?://[^\s<>\"']+")


@register.filter
def notice_html(text: str) -> SafeString:
    """The text as escaped paragraphs in which the portal's own links (SITE_URL) are links;
    any other address (one a customer typed into a company name, say) stays plain text, so
    an email never carries a link the portal did not write."""
    site = settings.SITE_URL.rstrip("/") + "/"

    def line(raw: str) -> str:
        parts, last = [], 0
        for match in _URL.finditer(raw):
            url = match.group().rstrip(".,;:!?)")
            start, end = match.start(), match.start() + len(url)
            parts.append(escape(raw[last:start]))
            if url == site.rstrip("/") or url.startswith(site):
                parts.append(format_html('<a href="{}">{}</a>', url, url))
            else:
                parts.append(escape(url))
            last = end
        parts.append(escape(raw[last:]))
        return "".join(parts)

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    html = "\n".join(
        "<p>" + "<br>\n".join(line(row) for row in paragraph.split("\n")) + "</p>"
        for paragraph in paragraphs
    )
    return mark_safe(html)  # noqa: S308 (every piece is escaped or built by format_html)
