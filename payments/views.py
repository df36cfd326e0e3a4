from __future__ import annotations

from axes.helpers import get_client_ip_address
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.current import AccountRequest, account_required

from .forms import AddCardForm
from .gateways import card_gateway
from .models import PaymentMethod
from .services import (
    BillingAddress,
    PaymentMethodError,
    TooManyAttempts,
    payment_method_add,
    payment_method_remove,
    payment_method_set_monthly,
)


def _get_method(request: AccountRequest, pk: int) -> PaymentMethod:
    """A card of the account in use; another account's is a 404."""
    return get_object_or_404(PaymentMethod, pk=pk, account=request.account)


def _require_pay_role(request: AccountRequest) -> None:
    if not request.membership.can_pay:
        raise PermissionDenied


@account_required
def payment_method_list(request: AccountRequest) -> HttpResponse:
    """Account > Billing > Payment Methods: the cards on file, the monthly one marked."""
    methods = (
        PaymentMethod.objects.filter(account=request.account)
        .exclude(state=PaymentMethod.State.REMOVED)
        .order_by("-is_monthly", "-created_at")
    )
    return render(
        request,
        "payments/payment_method_list.html",
        {
            "section": "payment_methods",
            "methods": methods,
            "can_manage": request.membership.can_pay,
        },
    )


@require_http_methods(["GET", "POST"])
@account_required
def payment_method_add_view(request: AccountRequest) -> HttpResponse:
    """Add Credit Card: the billing address, the gateway's card fields, EU Supported."""
    _require_pay_role(request)
    account = request.account
    form = AddCardForm(
        request.POST or None,
        account=account,
        initial={"contact_email": request.user.email, "country": account.country},
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            method = payment_method_add(
                account=account,
                by=request.user,
                token=form.cleaned_data["card_token"],
                address=form.billing_address(),
                contact_email=form.cleaned_data["contact_email"],
                eu_supported=form.cleaned_data["eu_supported"],
                ip=get_client_ip_address(request),
            )
        except TooManyAttempts as error:
            return render(
                request, "payments/too_many_attempts.html", {"message": str(error)}, status=429
            )
        except PaymentMethodError as error:
            form.add_error(None, str(error))
            status = 400
        else:
            messages.success(
                request,
                _("Your card ending %(last4)s was added and is pending verification.")
                % {"last4": method.last4},
            )
            return redirect("payments:methods")
    elif request.method == "POST":
        status = 400
    if form.is_bound:
        # A token is single-use: the next submit must ask the card fields for a new one.
        data = request.POST.copy()
        data["card_token"] = ""
        form.data = data
    return render(
        request,
        "payments/payment_method_add.html",
        {
            "section": "payment_methods",
            "form": form,
            "card_fields_url": card_gateway().card_fields_url,
            "company_info": BillingAddress.of_account(account).__dict__,
        },
        status=status,
    )


@require_POST
@account_required
def payment_method_remove_view(request: AccountRequest, pk: int) -> HttpResponse:
    method = _get_method(request, pk)
    _require_pay_role(request)
    payment_method_remove(payment_method=method, by=request.user)
    messages.success(request, _("The card ending %(last4)s was removed.") % {"last4": method.last4})
    return redirect("payments:methods")


@require_POST
@account_required
def payment_method_monthly_view(request: AccountRequest, pk: int) -> HttpResponse:
    method = _get_method(request, pk)
    _require_pay_role(request)
    try:
        payment_method_set_monthly(payment_method=method, by=request.user)
    except PaymentMethodError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("The card ending %(last4)s is now the monthly payment method.")
            % {"last4": method.last4},
        )
    return redirect("payments:methods")


@account_required
def one_time_payment(request: AccountRequest) -> HttpResponse:
    """Account > Payments. One-time payments arrive with their own feature."""
    return render(
        request,
        "portal/coming_soon.html",
        {"title": _("Payments"), "section": "payments"},
    )
