from __future__ import annotations

from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("billing/payment-methods/", views.payment_method_list, name="methods"),
    path("payments/", views.one_time_payment, name="pay"),
]
