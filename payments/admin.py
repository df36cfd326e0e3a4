from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import GatewayAttempt, PaymentMethod
from .services import PaymentMethodError, payment_method_approve, payment_method_reject

PROMISE_HOURS = 24


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
class PaymentMethodAdmin(admin.ModelAdmin[PaymentMethod]):
    list_display = [
        "__str__",
        "account",
        "state",
        "created_at",
        "time_left",
        "verification_result",
        "decided_by",
    ]
    list_filter = [AwaitingApprovalFilter, "state", "brand"]
    search_fields = ["account__company_name", "last4", "contact_email"]
    list_select_related = ["account", "decided_by"]
    ordering = ["created_at", "pk"]
    actions = ["approve", "reject"]
    readonly_fields = [f.name for f in PaymentMethod._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("time left to the 24-hour promise"))
    def time_left(self, method: PaymentMethod) -> str:
        if method.state not in PaymentMethod.PENDING_STATES:
            return "—"
        left = method.created_at + timedelta(hours=PROMISE_HOURS) - timezone.now()
        if left.total_seconds() <= 0:
            return str(_("overdue"))
        hours, seconds = divmod(int(left.total_seconds()), 3600)
        return f"{hours} h {seconds // 60:02d} min"

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
class GatewayAttemptAdmin(admin.ModelAdmin[GatewayAttempt]):
    list_display = ["idempotency_key", "kind", "status", "gateway", "created_at", "completed_at"]
    list_filter = ["kind", "status", "gateway"]
    search_fields = ["idempotency_key", "reference"]
    readonly_fields = [f.name for f in GatewayAttempt._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
