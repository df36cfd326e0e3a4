from __future__ import annotations

import redis
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django.views.i18n import set_language

from accounts.forms import SignInForm
from accounts.redirects import is_language_switch, safe_next

from .metrics import metrics_scrape


def home(request: HttpRequest) -> HttpResponse:
    return redirect("invoices:list")


@login_not_required
def language_set(request: HttpRequest) -> HttpResponse:
    """Django's language switch, open to everyone (the sign-in, password-reset, invitation
    and second-factor pages have it too), going back to the page it was used on; asked with
    GET (a bookmark, an old `next`) it changes nothing and goes home."""
    if request.method != "POST":
        return redirect("home")
    posted = request.POST.copy()
    posted["next"] = safe_next(request, posted.get("next"))
    request.POST = posted  # type: ignore[assignment]
    return set_language(request)


class SignInView(auth_views.LoginView):
    """The sign-in page: a `next` naming the language switch goes home instead."""

    authentication_form = SignInForm
    redirect_authenticated_user = True

    def get_redirect_url(self, request: HttpRequest | None = None) -> str:
        url = super().get_redirect_url(request)
        return url if url and not is_language_switch(url) else ""


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return bool(cursor.fetchone() == (1,))
    except Exception:
        return False


def _broker_status() -> str:
    if not settings.REDIS_URL:
        return "in-process"
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2
        )
        try:
            return "ok" if client.ping() else "error"
        finally:
            client.close()
    except redis.RedisError:
        return "error"


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: 200 when the database and the broker answer, else 503."""
    database = "ok" if _database_ok() else "error"
    broker = _broker_status()
    healthy = database == "ok" and broker != "error"
    return JsonResponse(
        {"status": "ok" if healthy else "error", "database": database, "broker": broker},
        status=200 if healthy else 503,
    )


@login_not_required
@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape (portal/metrics.py): 404 without METRICS_TOKEN configured, 401
    without the bearer token, 403 with another one."""
    scrape = metrics_scrape(authorization=request.headers.get("Authorization", ""))
    response = HttpResponse(scrape.body, status=scrape.status)
    for name, value in scrape.headers.items():
        response[name] = value
    return response
