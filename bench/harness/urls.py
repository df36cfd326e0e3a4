"""The portal's URLs plus /bench/minimal/, the floor the benchmark compares pages with."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.http import require_GET


@require_GET
def minimal(request: HttpRequest) -> HttpResponse:
    """A signed-in page that does nothing: every middleware, the session and the user only."""
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


urlpatterns = [
    path("bench/minimal/", minimal, name="bench-minimal"),
    path("", include("portal.urls")),
]
