"""What every email's layout shows: who sends it and where the portal is."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def seller_name() -> str:
    """The seller's name, as the email's letterhead (text, never an image)."""
    return str(settings.SELLER_NAME)


@register.simple_tag
def site_url() -> str:
    """The portal's address, as its footer's link."""
    return str(settings.SITE_URL).rstrip("/") + "/"
