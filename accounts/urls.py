from __future__ import annotations

from django.urls import path

from . import views

app_name = "accounts"

urlpatterns = [
    path("settings/", views.settings_view, name="settings"),
    path("activity/", views.activity_view, name="activity"),
    path("switch/", views.switch_account_view, name="switch"),
    path("team/invite/", views.team_invite_view, name="team_invite"),
    path("team/<int:pk>/role/", views.team_role_view, name="team_role"),
    path("team/<int:pk>/remove/", views.team_remove_view, name="team_remove"),
    path("team/invitations/<int:pk>/revoke/", views.team_revoke_view, name="team_revoke"),
    path("invitation/<str:token>/", views.invitation_view, name="accept"),
    path("security/", views.security_view, name="security"),
    path("settings/tax-id/", views.tax_id_view, name="tax_id"),
    path("two-factor/", views.two_factor_view, name="two_factor"),
    path("two-factor/setup/", views.two_factor_setup_view, name="two_factor_setup"),
    path("two-factor/verify/", views.two_factor_verify_view, name="two_factor_verify"),
]
