from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from .current import AccountRequest, account_required, switch_account
from .forms import CompanyInfoForm, SwitchAccountForm
from .models import Membership
from .services import account_update_company_info


@require_http_methods(["GET", "POST"])
@account_required
def settings_view(request: AccountRequest) -> HttpResponse:
    """Account > Settings: owners edit the company information; others read it."""
    account = request.account
    can_edit = request.membership.can_manage_account
    if request.method == "POST":
        if not can_edit:
            return render(request, "accounts/settings.html", _context(request), status=403)
        form = CompanyInfoForm(request.POST, instance=account)
        if form.is_valid():
            account_update_company_info(account=account, by=request.user, **form.cleaned_data)
            messages.success(request, _("The company information has been saved."))
            return redirect("accounts:settings")
    else:
        form = CompanyInfoForm(instance=account)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request, "accounts/settings.html", {**_context(request, form=form), "section": "settings"}
    )


def _context(request: AccountRequest, form: CompanyInfoForm | None = None) -> dict[str, object]:
    account = request.account
    return {
        "form": form,
        "account": account,
        "can_edit": request.membership.can_manage_account,
        "memberships": Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("user__email"),
    }


@require_POST
def switch_account_view(request: HttpRequest) -> HttpResponse:
    """Use another of the user's accounts; an account they are not in is a 404."""
    form = SwitchAccountForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    membership = get_object_or_404(
        Membership.objects.select_related("account"),
        user_id=request.user.pk,
        account_id=form.cleaned_data["account"],
    )
    switch_account(request, membership.account)
    next_url = form.cleaned_data["next"]
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = "home"
    return redirect(next_url)


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, object] | None = None,
) -> HttpResponse:
    """What django-axes shows instead of the sign-in form while a client is throttled."""
    return render(
        request,
        "registration/locked_out.html",
        {
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        },
        status=429,
    )
