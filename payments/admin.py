from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin_records import RecordAdminMixin
from invoices.admin_money import money_column, money_fields, money_html
from invoices.money import format_money

from .cards import payment_method_approve, payment_method_reject
from .core import new_key
from .errors import PaymentMethodError, RefundError
from .models import GatewayAttempt, Payment, PaymentAllocation, PaymentMethod, PaymentRefund
from .refunds import payment_refund, refund_check, refund_preview, refundable
from .selectors import payment_applied


class AwaitingApprovalFilter(admin.SimpleListFilter):
    title = _("queue")
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("awaiting", _("Awaiting approval"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PaymentMethod]) -> Any:
        if self.value() == "awaiting":
            return queryset.filter(state=PaymentMethod.State.AWAITING_APPROVAL)
        return queryset


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=255)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(RecordAdminMixin, admin.ModelAdmin[PaymentMethod]):
    list_display = [
        "__str__",
        "account",
        "state",
        "time_left",
        "verification_result",
        "created_at",
        "decided_by",
    ]
    # The queue (cards awaiting a decision): its state is the same on every row and nobody
    # decided yet, so those columns give their room to the countdown and the gateway's word.
    queue_display = ["__str__", "account", "time_left", "verification_result", "created_at"]
    list_filter = [AwaitingApprovalFilter, "state", "brand"]
    search_fields = ["account__company_name", "last4", "contact_email"]
    list_select_related = ["account", "decided_by"]
    ordering = ["created_at", "pk"]
    actions = ["approve", "reject"]
    readonly_fields = [f.name for f in PaymentMethod._meta.fields]

    def get_list_display(self, request: HttpRequest) -> Any:
        awaiting = PaymentMethod.State.AWAITING_APPROVAL
        if request.GET.get("queue") == "awaiting" or request.GET.get("state__exact") == awaiting:
            return self.queue_display
        return self.list_display

    @admin.display(description=_("time left to the promise"), ordering="created_at")
    def time_left(self, method: PaymentMethod) -> str:
        if method.state not in PaymentMethod.PENDING_STATES:
            return "—"
        promise = timedelta(hours=settings.CARD_PROMISE_HOURS)
        left = method.created_at + promise - timezone.now()
        if left.total_seconds() <= 0:
            return str(_("overdue"))
        hours, seconds = divmod(int(left.total_seconds()), 3600)
        return _("%(hours)d h %(minutes)02d min") % {"hours": hours, "minutes": seconds // 60}

    def has_approve_permission(self, request: HttpRequest) -> bool:
        """Only staff with the permission to approve cards see and run the decisions."""
        return request.user.has_perm("payments.approve_paymentmethod")

    @admin.action(description=_("Approve the selected cards"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[PaymentMethod]) -> None:
        if not request.user.has_perm("payments.approve_paymentmethod"):
            self.message_user(request, _("You may not approve cards."), messages.ERROR)
            return
        approved = 0
        for method in queryset:
            try:
                payment_method_approve(payment_method=method, by=request.user)  # type: ignore[arg-type]
                approved += 1
            except PaymentMethodError as error:
                self.message_user(request, f"{method}: {error}", messages.WARNING)
        if approved:
            self.message_user(
                request,
                ngettext("Approved %(count)d card.", "Approved %(count)d cards.", approved)
                % {"count": approved},
                messages.SUCCESS,
            )

    @admin.action(
        description=_("Reject the selected cards (with a reason)"), permissions=["approve"]
    )
    def reject(
        self, request: HttpRequest, queryset: QuerySet[PaymentMethod]
    ) -> HttpResponse | None:
        if not request.user.has_perm("payments.approve_paymentmethod"):
            self.message_user(request, _("You may not reject cards."), messages.ERROR)
            return None
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            rejected = 0
            for method in queryset:
                try:
                    payment_method_reject(
                        payment_method=method,
                        by=request.user,  # type: ignore[arg-type]
                        reason=form.cleaned_data["reason"],
                    )
                    rejected += 1
                except PaymentMethodError as error:
                    self.message_user(request, f"{method}: {error}", messages.WARNING)
            if rejected:
                self.message_user(
                    request,
                    ngettext("Rejected %(count)d card.", "Rejected %(count)d cards.", rejected)
                    % {"count": rejected},
                    messages.SUCCESS,
                )
            return None
        return render(
            request,
            "admin/payments/paymentmethod/reject.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": _("Reject cards"),
                "form": form,
                "methods": queryset,
            },
        )


@admin.register(GatewayAttempt)
class GatewayAttemptAdmin(RecordAdminMixin, admin.ModelAdmin[GatewayAttempt]):
    list_display = ["idempotency_key", "kind", "status", "gateway", "created_at", "completed_at"]
    list_filter = ["kind", "status", "gateway"]
    search_fields = ["idempotency_key", "reference"]
    readonly_fields = [f.name for f in GatewayAttempt._meta.fields]


class RefundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount"), max_digits=18)
    reason = forms.CharField(label=_("Reason"), max_length=255)
    # Submitting the same form twice (a double click) is one refund.
    key = forms.CharField(widget=forms.HiddenInput, min_length=16, max_length=64)


class PaymentAllocationInline(RecordAdminMixin, admin.TabularInline[PaymentAllocation, Payment]):
    model = PaymentAllocation
    fields = readonly_fields = ("invoice", "amount")
    extra = 0
    verbose_name_plural = _("invoices paid")

    @admin.display(description=_("invoice"))
    def invoice(self, link: PaymentAllocation) -> str:
        return link.allocation.invoice.number

    @admin.display(description=_("amount"))
    def amount(self, link: PaymentAllocation) -> str:
        return money_html(link.allocation.amount, link.allocation.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaymentAllocation]:
        return super().get_queryset(request).select_related("allocation__invoice")


class PaymentRefundInline(RecordAdminMixin, admin.TabularInline[PaymentRefund, Payment]):
    model = PaymentRefund
    fields = readonly_fields = (
        "created_at",
        "amount_money",
        "state",
        "reason",
        "created_by",
        "reference",
        "documents",
    )
    extra = 0

    amount_money = money_column("amount", _("amount"))


@admin.register(Payment)
class PaymentAdmin(RecordAdminMixin, admin.ModelAdmin[Payment]):
    """Payments, read-only; a succeeded one can be refunded (all or part) by staff with the
    permission, through the same service a script would call."""

    # Each amount shows its currency, so there is no column of currencies.
    list_display = ["created_at", "account", "method", "amount_money", "state", "reference"]
    list_filter = ["state", "method", "currency"]
    search_fields = ["account__company_name", "reference", "order_id", "last4"]
    list_select_related = ["account"]
    fields = readonly_fields = money_fields(
        [*(f.name for f in Payment._meta.fields if f.name != "id"), "applied", "refund_link"],
        {"amount": "amount_money"},
    )
    inlines = [PaymentAllocationInline, PaymentRefundInline]

    amount_money = money_column("amount", _("amount"))

    @admin.display(description=_("applied to invoices"))
    def applied(self, payment: Payment) -> str:
        return money_html(payment_applied(payment), payment.currency)

    @admin.display(description=_("refund"))
    def refund_link(self, payment: Payment) -> str:
        if payment.state != Payment.State.SUCCEEDED:
            return "—"
        return format_html(
            '<a class="button" href="{}">{}</a>',
            reverse("admin:payments_payment_refund", args=[payment.pk]),
            _("Refund this payment"),
        )

    def get_urls(self) -> list[URLPattern]:
        return [
            path(
                "<int:pk>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="payments_payment_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """Refund a payment in two steps, as Django's delete does: the form (amount, reason),
        then a page with the numbers and what the customer will see, where "Yes" sends it to
        the gateway. Both carry one idempotency key: a confirmation sent twice refunds once."""
        if not request.user.has_perm("payments.refund_payment"):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("account"), pk=pk)
        left = refundable(payment)
        form = RefundForm(request.POST or None, initial={"amount": left, "key": new_key()})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Refund a payment"),
            "form": form,
            "payment": payment,
            "refundable": left,
        }
        if request.method == "POST" and form.is_valid():
            amount, reason = form.cleaned_data["amount"], form.cleaned_data["reason"]
            if "confirm" not in request.POST:
                try:
                    refund_check(payment=payment, amount=amount, reason=reason)
                except RefundError as error:
                    form.add_error("amount", str(error))
                else:
                    return TemplateResponse(
                        request,
                        "admin/payments/payment/refund_confirmation.html",
                        {
                            **context,
                            "title": _("Are you sure?"),
                            "amount": amount,
                            "reason": reason.strip(),
                            "plan": refund_preview(payment=payment, amount=amount),
                            "emails": payment.account.billing_emails(),
                            "paid_by_paypal": payment.method == Payment.Method.PAYPAL,
                        },
                    )
            else:
                try:
                    refund = payment_refund(
                        payment=payment,
                        amount=amount,
                        reason=reason,
                        by=request.user,  # type: ignore[arg-type]
                        key=form.cleaned_data["key"],
                    )
                except RefundError as error:
                    form.add_error("amount", str(error))
                else:
                    level = (
                        messages.SUCCESS
                        if refund.state == PaymentRefund.State.SUCCEEDED
                        else messages.WARNING
                    )
                    self.message_user(
                        request,
                        _("Refund of %(amount)s: %(state)s.")
                        % {
                            "amount": format_money(refund.amount, refund.currency),
                            "state": refund.get_state_display(),
                        },
                        level,
                    )
                    return HttpResponseRedirect(
                        reverse("admin:payments_payment_change", args=[payment.pk])
                    )
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)
