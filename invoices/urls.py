from __future__ import annotations

from django.urls import path

from . import views

app_name = "invoices"

urlpatterns = [
    path("billing/invoices/", views.invoice_list, name="list"),
    path("billing/invoices/<int:pk>/", views.invoice_detail, name="detail"),
    path("billing/invoices/<int:pk>/items/<int:item_pk>/", views.invoice_item, name="item"),
]
