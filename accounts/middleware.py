"""The second factor, asked for after the password and before any page of the portal."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from .models import User
from .two_factor import second_factor_state

# Paths a signed-in user reaches before giving a second factor, besides the page that asks
# for it (and the setup page, for one who has none yet): signing out, the language switch,
# and what is not the portal's pages (the admin asks for its own second factor; static
# files; the health check).
_OPEN_PREFIXES = ("/admin/", "/static/", "/i18n/", "/healthz", "/logout/")


class SecondFactorMiddleware:
    """A signed-in user who has a second factor gives it once per session; one whose
    account requires a second factor and who has none sets it up first."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        # OTPMiddleware gives the user `is_verified`: a second factor given in this session.
        verified = getattr(user, "is_verified", lambda: False)()
        if not isinstance(user, User) or verified or request.path.startswith(_OPEN_PREFIXES):
            return self.get_response(request)
        verify, setup = reverse("accounts:two_factor_verify"), reverse("accounts:two_factor_setup")
        if request.path == verify:
            return self.get_response(request)
        has, required = second_factor_state(user)
        if has:
            # Setting up an authenticator is no way around the one the user has: a password
            # alone would otherwise put the caller's in its place.
            return self._to("accounts:two_factor_verify", request)
        if required and request.path != setup:
            return self._to("accounts:two_factor_setup", request)
        return self.get_response(request)

    @staticmethod
    def _to(name: str, request: HttpRequest) -> HttpResponse:
        target = reverse(name)
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return HttpResponseRedirect(target)
