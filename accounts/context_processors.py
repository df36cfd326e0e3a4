from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .current import current_membership, user_memberships

if TYPE_CHECKING:
    from django.http import HttpRequest


def current_account(request: HttpRequest) -> dict[str, Any]:
    """The account in use and the user's other accounts, for the header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    membership = current_membership(request)
    others = [m for m in user_memberships(request) if m is not membership]
    others.sort(key=lambda m: (m.account.company_name, m.account_id))
    return {
        "current_membership": membership,
        "current_account": membership.account if membership else None,
        "other_memberships": others,
    }
