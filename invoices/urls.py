from __future__ import annotations

from django.urls import path

from . import views

app_name = "invoices"

urlpatterns = [
    path("billing/invoices/", views.invoice_list, name="list"),
]
