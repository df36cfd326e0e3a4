from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin_records import RecordAdminMixin
from invoices.admin_money import money_column, money_fields, money_html
from invoices.services import InvoiceError

from .late_fees import late_fee_waive
from .models import AutoCharge, AutoChargePayment, LateFee


class AutoChargePaymentInline(RecordAdminMixin, admin.TabularInline[AutoChargePayment, AutoCharge]):
    """Each time the card on file was charged for the invoice: the payment and its outcome."""

    model = AutoChargePayment
    fields = readonly_fields = ("payment", "state", "amount", "created_at")
    extra = 0
    verbose_name_plural = _("charges of the card on file")

    @admin.display(description=_("state"))
    def state(self, link: AutoChargePayment) -> str:
        return str(link.payment.get_state_display())

    @admin.display(description=_("amount"))
    def amount(self, link: AutoChargePayment) -> str:
        return money_html(link.payment.amount, link.payment.currency)

    @admin.display(description=_("started"))
    def created_at(self, link: AutoChargePayment) -> str:
        return str(link.payment.created_at)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AutoChargePayment]:
        return super().get_queryset(request).select_related("payment")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Part of the automatic charge: whoever may see the charge sees its payments.
        return request.user.has_perm("billing.view_autocharge")


@admin.register(AutoCharge)
class AutoChargeAdmin(RecordAdminMixin, admin.ModelAdmin[AutoCharge]):
    """Each account's dunning state: which invoices the card on file is (still) charged for,
    how often it was declined and when it is tried next."""

    list_display = [
        "invoice",
        "account",
        "state",
        "attempts",
        "declines",
        "decline_code",
        "next_attempt_at",
        "updated_at",
    ]
    list_filter = ["state"]
    search_fields = ["account__company_name", "invoice__number"]
    list_select_related = ["invoice", "account"]
    readonly_fields = [f.name for f in AutoCharge._meta.fields]
    inlines = [AutoChargePaymentInline]


@admin.register(LateFee)
class LateFeeAdmin(RecordAdminMixin, admin.ModelAdmin[LateFee]):
    list_display = ["fee_invoice", "invoice", "period", "overdue_money", "created_at", "waiver"]
    list_select_related = ["fee_invoice", "invoice", "waiver"]
    search_fields = ["invoice__number", "fee_invoice__number", "invoice__account__company_name"]
    fields = readonly_fields = money_fields(
        [f.name for f in LateFee._meta.fields], {"overdue": "overdue_money"}
    )

    overdue_money = money_column("overdue", _("overdue balance"), currency="invoice__currency")
    actions = ["waive"]

    def has_waive_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("invoices.add_invoice")

    @admin.action(
        description=_("Waive the selected late fees (a credit for each)"), permissions=["waive"]
    )
    def waive(self, request: HttpRequest, queryset: QuerySet[LateFee]) -> None:
        waived = 0
        for late_fee in queryset.filter(waiver__isnull=True):
            try:
                late_fee_waive(late_fee=late_fee, by=request.user)  # type: ignore[arg-type]
            except InvoiceError as error:
                self.message_user(request, f"{late_fee.fee_invoice}: {error}", messages.WARNING)
                continue
            waived += 1
        self.message_user(
            request,
            ngettext("Waived %(count)d late fee.", "Waived %(count)d late fees.", waived)
            % {"count": waived},
            messages.SUCCESS,
        )
