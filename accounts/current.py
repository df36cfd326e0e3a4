"""The current account of a request: which of the signed-in user's accounts they are using.

A user may belong to several accounts; the one in use is kept in the session and can be
switched. Every customer page reads its data through `request.account`, set here, so that
another account's objects are never in reach.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.http import HttpRequest
from django.shortcuts import render

from .models import Account, Membership

if TYPE_CHECKING:
    from django.http import HttpResponse, HttpResponseBase

    from .models import User


class AccountRequest(HttpRequest):
    """The request of a customer page: a signed-in user and the account in use."""

    user: User
    account: Account
    membership: Membership


SESSION_KEY = "current_account_id"
_CACHE_ATTR = "_memberships"


def user_memberships(request: HttpRequest) -> list[Membership]:
    """All the signed-in user's memberships with their accounts, from one query per request."""
    if not hasattr(request, _CACHE_ATTR):
        memberships: list[Membership] = []
        if request.user.is_authenticated:
            memberships = list(
                Membership.objects.filter(user_id=request.user.pk)
                .select_related("account")
                .order_by("created_at", "pk")
            )
        setattr(request, _CACHE_ATTR, memberships)
    cached: list[Membership] = getattr(request, _CACHE_ATTR)
    return cached


def current_membership(request: HttpRequest) -> Membership | None:
    """The signed-in user's membership of the account in use, or None (staff, no account)."""
    memberships = user_memberships(request)
    wanted = request.session.get(SESSION_KEY) if memberships else None
    for membership in memberships:
        if membership.account_id == wanted:
            return membership
    return memberships[0] if memberships else None


def switch_account(request: HttpRequest, account: Account) -> None:
    """Use `account` from now on; the caller has checked that the user is a member."""
    request.session[SESSION_KEY] = account.pk


def account_required[R: HttpResponseBase](
    view: Callable[..., R],
) -> Callable[..., R | HttpResponse]:
    """Give the view `request.account` and `request.membership`, or explain there is none."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> R | HttpResponse:
        membership = current_membership(request)
        if membership is None:
            return render(request, "accounts/no_account.html", status=403)
        request.membership = membership  # type: ignore[attr-defined]
        request.account = membership.account  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper
