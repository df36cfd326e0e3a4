from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _

from . import views
from .admin_site import PortalAdminSite

# The admin asks staff for a second factor: a TOTP code from a device registered for them.
admin.site.__class__ = PortalAdminSite
admin.site.site_header = _("Billing portal administration")
admin.site.site_title = _("Billing portal")

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.SignInView.as_view(), name="login"),
    path(
        "password_reset/",
        # The same email as every other: plain text with its HTML alternative.
        auth_views.PasswordResetView.as_view(
            html_email_template_name="registration/password_reset_body.html"
        ),
        name="password_reset",
    ),
    path("", include("django.contrib.auth.urls")),
    path("i18n/setlang/", views.language_set, name="set_language"),
    path("healthz", views.healthz, name="healthz"),
    path("metrics", views.metrics, name="metrics"),
    path("account/", include("accounts.urls")),
    path("", include("invoices.urls")),
    path("", include("payments.urls")),
    path("admin/", admin.site.urls),
]
if settings.SANDBOX_GATEWAY:
    # The sandbox processor, playing the card gateway and PayPal under its own prefix.
    urlpatterns.append(path("sandbox-gateway/", include("sandbox_gateway.urls")))
