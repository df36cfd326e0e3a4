from __future__ import annotations

from django.urls import path

from . import views

app_name = "invoices"

urlpatterns = [
    path("billing/invoices/", views.invoice_list, name="list"),
    path("billing/invoices/export.csv", views.invoice_list_csv, name="list_csv"),
    path("billing/invoices/<int:pk>/", views.invoice_detail, name="detail"),
    path("billing/invoices/<int:pk>/pdf/", views.invoice_pdf, name="pdf"),
    path("billing/invoices/<int:pk>/xml/", views.invoice_xml, name="xml"),
    path("billing/invoices/<int:pk>/csv/", views.invoice_csv_view, name="csv"),
    path("billing/invoices/<int:pk>/items/<int:item_pk>/", views.invoice_item, name="item"),
]
