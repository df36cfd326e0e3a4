from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .current import current_membership
from .models import Membership

if TYPE_CHECKING:
    from django.http import HttpRequest


def current_account(request: HttpRequest) -> dict[str, Any]:
    """The account in use and the user's other accounts, for the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = current_membership(request)

    def other_memberships() -> list[Membership]:
        others = Membership.objects.filter(user=user)
        if membership is not None:
            others = others.exclude(pk=membership.pk)
        return list(
            others.select_related("account").order_by("account__company_name", "account_id")
        )

    return {
        "current_membership": membership,
        "current_account": membership.account if membership else None,
        # Evaluated only by a template that shows the switcher.
        "other_memberships": other_memberships,
    }
