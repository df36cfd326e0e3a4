from __future__ import annotations

from django.urls import path

from . import views

app_name = "sandbox_gateway"

urlpatterns = [
    path("v1/card-fields", views.card_fields, name="card_fields"),
    path("v1/tokens", views.create_token, name="tokens"),
    path("paypal/checkoutnow", views.paypal_checkout, name="paypal_checkout"),
]
