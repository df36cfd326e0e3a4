from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .current import current_membership
from .models import Membership

if TYPE_CHECKING:
    from django.http import HttpRequest


def current_account(request: HttpRequest) -> dict[str, Any]:
    """The account in use and the user's other accounts, for the header."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    membership = current_membership(request)

    def other_memberships() -> list[Membership]:
        return list(
            Membership.objects.filter(user_id=request.user.pk)
            .exclude(pk=membership.pk if membership else None)
            .select_related("account")
            .order_by("account__company_name", "account_id")
        )

    return {
        "current_membership": membership,
        "current_account": membership.account if membership else None,
        # Evaluated only by a template that shows the switcher.
        "other_memberships": other_memberships,
    }
