from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from accounts.admin_records import RecordAdminMixin
from accounts.currencies import CURRENCY_CHOICES
from accounts.models import Account

from .admin_money import money_column, money_fields, money_html
from .models import (
    Invoice,
    InvoiceItem,
    RecurringCharge,
    RecurringChargeDetail,
    SellerTaxCountry,
    TaxRate,
)
from .money import has_valid_precision
from .services import InvoiceError, ItemSpec, invoice_issue_credit, invoice_issue_one_time
from .tax_notes import tax_note_text
from .templatetags.invoice_tax import vat_rate
from .vat import vat_breakdown


class InvoiceItemInline(RecordAdminMixin, admin.TabularInline[InvoiceItem, Invoice]):
    model = InvoiceItem
    readonly_fields = (
        "position",
        "parent",
        "description",
        "category",
        "resource_label",
        "quantity",
        "unit_price_money",
        "amount_money",
        "vat_category",
        "vat_rate",
    )
    fields = readonly_fields
    extra = 0
    can_delete = False
    show_change_link = False

    unit_price_money = money_column(
        "unit_price", _("unit price"), currency="invoice__currency", unit=True
    )
    amount_money = money_column("amount", _("amount"), currency="invoice__currency")


class CreditForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), min_value=Decimal("0.001"))
    reason = forms.CharField(label=_("Reason"), max_length=255)


class OneTimeInvoiceForm(forms.Form):
    account = forms.ModelChoiceField(label=_("Account"), queryset=Account.objects.all())
    currency = forms.ChoiceField(
        label=_("Currency"),
        choices=[("", _("The account's billing currency")), *CURRENCY_CHOICES],
        required=False,
    )
    description = forms.CharField(label=_("Description"), max_length=255)
    category = forms.CharField(label=_("Category"), max_length=100, required=False)
    quantity = forms.DecimalField(label=_("Quantity"), min_value=Decimal("0.000001"), initial=1)
    unit_price = forms.DecimalField(label=_("Unit price"), min_value=Decimal(0))


@admin.register(Invoice)
class InvoiceAdmin(RecordAdminMixin, admin.ModelAdmin[Invoice]):
    list_display = [
        "number",
        "account",
        "type",
        "state",
        "issue_date",
        # Each amount shows its currency, so there is no column of currencies.
        "total_money",
        "balance_money",
    ]
    list_filter = ["type", "state", "currency", "issue_date"]
    search_fields = ["number", "account__company_name", "buyer_name"]
    date_hierarchy = "issue_date"
    list_select_related = ["account"]
    inlines = [InvoiceItemInline]
    actions = ["issue_credit"]
    change_list_template = "admin/invoices/invoice/change_list.html"

    subtotal_money = money_column("subtotal", _("subtotal"))
    tax_money = money_column("tax", _("tax"))
    total_money = money_column("total", _("total"))
    balance_money = money_column("balance", _("balance"))

    def get_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = money_fields(
            [f.name for f in Invoice._meta.fields],
            {name: f"{name}_money" for name in ("subtotal", "tax", "total", "balance")},
        )
        return (*fields, "vat_breakdown_display", "tax_note_display")

    @admin.display(description=_("VAT breakdown"))
    def vat_breakdown_display(self, invoice: Invoice) -> SafeString | str:
        """One line per VAT category and rate: taxable amount, rate, VAT."""
        groups = vat_breakdown(invoice)
        if not groups:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{}: {} × {} = {}",
            (
                (
                    group.category.label,
                    money_html(group.taxable, invoice.currency),
                    f"{vat_rate(group.rate)}%",
                    money_html(group.tax, invoice.currency),
                )
                for group in groups
            ),
        )

    @admin.display(description=_("Legal note"))
    def tax_note_display(self, invoice: Invoice) -> str:
        return tax_note_text(invoice.tax_note) or "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # An issued invoice is a document: nothing on it is edited here.
        return self.get_fields(request, obj)

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "issue-one-time/",
                self.admin_site.admin_view(self.issue_one_time_view),
                name="invoices_invoice_issue_one_time",
            ),
            *super().get_urls(),
        ]

    def issue_one_time_view(self, request: HttpRequest) -> HttpResponse:
        """Issue a One-time invoice of one item (a setup fee, an overage) to an account."""
        if not self.has_view_permission(request) or not request.user.has_perm(
            "invoices.add_invoice"
        ):
            raise PermissionDenied
        form = OneTimeInvoiceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                invoice = invoice_issue_one_time(
                    account=data["account"],
                    currency=data["currency"] or None,
                    items=[
                        ItemSpec(
                            description=data["description"],
                            category=data["category"],
                            quantity=data["quantity"],
                            unit_price=data["unit_price"],
                        )
                    ],
                    by=request.user,  # type: ignore[arg-type]
                )
            except InvoiceError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(
                    request,
                    _("Issued %(number)s.") % {"number": invoice.number},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:invoices_invoice_change", args=[invoice.pk])
                )
        return TemplateResponse(
            request,
            "admin/invoices/invoice/issue_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Issue a one-time invoice"),
                "form": form,
            },
        )

    @admin.action(description=_("Issue a credit against the selected invoice"))
    def issue_credit(
        self, request: HttpRequest, queryset: QuerySet[Invoice]
    ) -> HttpResponse | None:
        if not request.user.has_perm("invoices.add_invoice"):
            self.message_user(request, _("You may not issue credits."), messages.ERROR)
            return None
        if queryset.count() != 1:
            self.message_user(request, _("Select exactly one invoice."), messages.WARNING)
            return None
        original = queryset.get()
        form = CreditForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            amount = form.cleaned_data["amount"]
            if not has_valid_precision(amount, original.currency):
                form.add_error("amount", _("Too many decimal places for this currency."))
            else:
                try:
                    credit = invoice_issue_credit(
                        original=original,
                        amount=amount,
                        reason=form.cleaned_data["reason"],
                        by=request.user,  # type: ignore[arg-type]
                    )
                except InvoiceError as error:
                    form.add_error("amount", str(error))
                else:
                    self.message_user(
                        request,
                        _("Issued credit %(number)s.") % {"number": credit.number},
                        messages.SUCCESS,
                    )
                    return None
        return render(
            request,
            "admin/invoices/invoice/issue_form.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Issue a credit against %(number)s") % {"number": original.number},
                "form": form,
                "action": "issue_credit",
                "selected": original.pk,
            },
        )


class RecurringChargeDetailInline(admin.TabularInline[RecurringChargeDetail, RecurringCharge]):
    model = RecurringChargeDetail
    extra = 1
    fields = ["position", "description", "category", "quantity", "unit_price"]


@admin.register(RecurringCharge)
class RecurringChargeAdmin(admin.ModelAdmin[RecurringCharge]):
    list_display = [
        "description",
        "account",
        "resource_label",
        "starts_on",
        "ends_on",
        "invoiced_through",
    ]
    list_filter = ["starts_on", "ends_on"]
    search_fields = ["description", "resource_label", "account__company_name"]
    list_select_related = ["account"]
    autocomplete_fields = ["account"]
    readonly_fields = ["invoiced_through"]
    inlines = [RecurringChargeDetailInline]


@admin.register(TaxRate)
class TaxRateAdmin(admin.ModelAdmin[TaxRate]):
    """The dated rates: a change of rate is a new row from its first day, and the last day
    set on the row it replaces. Issued invoices keep the rate they were issued with."""

    list_display = ["country", "kind", "vat_category", "rate", "valid_from", "valid_to"]
    list_filter = ["kind", "vat_category", "country"]
    search_fields = ["country"]
    ordering = ["country", "kind", "-valid_from"]


@admin.register(SellerTaxCountry)
class SellerTaxCountryAdmin(admin.ModelAdmin[SellerTaxCountry]):
    """Where a seller outside the EU charges tax (none: no tax anywhere)."""

    list_display = ["country", "kind"]
