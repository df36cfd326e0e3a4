"""`{% card_fields "save" %}` / `{% card_fields "pay" %}`: the card gateway's own fields."""

from __future__ import annotations

from typing import Any

from django import template

from payments.card_fields import Purpose, card_fields_html

register = template.Library()


@register.simple_tag(takes_context=True)
def card_fields(context: dict[str, Any], purpose: Purpose) -> str:
    return card_fields_html(request=context["request"], purpose=purpose)
