from __future__ import annotations

from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("billing/payment-methods/", views.payment_method_list, name="methods"),
    path("billing/payment-methods/add/", views.payment_method_add_view, name="add"),
    path(
        "billing/payment-methods/<int:pk>/remove/",
        views.payment_method_remove_view,
        name="remove",
    ),
    path(
        "billing/payment-methods/<int:pk>/monthly/",
        views.payment_method_monthly_view,
        name="monthly",
    ),
    path("payments/", views.one_time_payment, name="pay"),
]
