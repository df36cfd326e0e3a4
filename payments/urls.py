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
    path("payments/", views.payment_page, name="pay"),
    path("payments/<int:pk>/", views.payment_detail, name="detail"),
    path("payments/<int:pk>/receipt.pdf", views.payment_receipt_pdf, name="receipt_pdf"),
    path("payments/<int:pk>/confirm/", views.payment_confirm, name="confirm"),
    path("payments/card/start/", views.card_payment_start, name="card_start"),
    path("payments/card-on-file/", views.card_on_file_pay, name="card_on_file"),
    path("payments/too-many-attempts/", views.too_many_attempts, name="too_many"),
    path("payments/stripe/webhook/", views.card_webhook, name="stripe_webhook"),
    path("payments/paypal/", views.paypal_start, name="paypal_start"),
    path("payments/paypal/return/", views.paypal_return, name="paypal_return"),
    path("payments/paypal/cancel/", views.paypal_cancel, name="paypal_cancel"),
    path("payments/paypal/webhook/", views.paypal_webhook, name="paypal_webhook"),
]
