"""`{% card_fields %}`: the card gateway's own fields on a card form."""

from __future__ import annotations

from typing import Any

from django import template

from payments.gateway import card_fields_html

register = template.Library()


@register.simple_tag(takes_context=True)
def card_fields(context: dict[str, Any]) -> str:
    return card_fields_html(request=context.get("request"))
