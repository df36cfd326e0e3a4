from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .audit import account_activity, describe_action, describe_entry_detail
from .current import AccountRequest, account_required, switch_account
from .forms import (
    CodeForm,
    CompanyInfoForm,
    InviteForm,
    NewMemberForm,
    RoleForm,
    SecurityForm,
    SwitchAccountForm,
    TaxIdForm,
)
from .models import Account, AuditEntry, Invitation, Membership, TaxIdStatus, User
from .redirects import page_for_another_account, safe_next
from .services import account_update_company_info
from .tax_ids import account_set_tax_id, tax_id_status_for
from .team import (
    TeamError,
    invitation_for,
    team_accept,
    team_accept_as_new_user,
    team_change_role,
    team_invitations,
    team_invite,
    team_remove,
    team_revoke,
)
from .two_factor import (
    CodeCheck,
    TwoFactorError,
    account_require_two_factor,
    has_two_factor,
    recovery_codes_left,
    recovery_codes_renew,
    session_verified,
    totp_confirm,
    totp_qr_svg,
    totp_secret,
    totp_start,
    two_factor_disable,
    two_factor_required,
    verify_second_factor,
)

# How many of the team's latest changes the Settings page lists.
TEAM_ACTIVITY_ROWS = 20


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


@require_GET
@account_required
def activity_view(request: AccountRequest) -> HttpResponse:
    """Account > Activity: what happened on the account and who did it, newest first.

    Every user of the account sees it; it shows only the account in use."""
    page = Paginator(account_activity(request.account), settings.ACTIVITY_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [
        {
            "entry": entry,
            "description": describe_action(entry.action),
            "detail": describe_entry_detail(entry),
        }
        for entry in page.object_list
    ]
    return render(
        request, "accounts/activity.html", {"section": "activity", "page": page, "rows": rows}
    )


def _context(
    request: AccountRequest,
    form: CompanyInfoForm | None = None,
    invite_form: InviteForm | None = None,
    tax_form: TaxIdForm | None = None,
) -> dict[str, object]:
    account = request.account
    owner = request.membership.can_manage_account
    activity = (
        AuditEntry.objects.filter(account=account, action__startswith="accounts.team.")
        .select_related("actor")
        .order_by("-created_at", "-pk")[:TEAM_ACTIVITY_ROWS]
        if owner
        else []
    )
    return {
        "form": form,
        "account": account,
        "can_edit": owner,
        "memberships": Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("user__email"),
        "roles": Membership.Role.choices,
        "invite_form": invite_form or (InviteForm() if owner else None),
        "invitations": team_invitations(account) if owner else [],
        "activity": [(entry, describe_action(entry.action)) for entry in activity],
        "security_form": SecurityForm(initial={"require_two_factor": account.require_two_factor})
        if owner
        else None,
        "require_two_factor": account.require_two_factor,
        "tax_form": tax_form or _tax_form(account, editable=owner),
        "tax_id_statuses": TaxIdStatus,
    }


def _tax_form(account: Account, *, editable: bool) -> TaxIdForm:
    form = TaxIdForm(
        initial={
            "tax_id_kind": account.tax_id_kind,
            "tax_id": account.tax_id,
            "invoice_title": account.invoice_title,
        }
    )
    if not editable:
        for field in form.fields.values():
            field.disabled = True
    return form


def _settings_page(request: AccountRequest, *, status: int = 200, **forms: object) -> HttpResponse:
    form = CompanyInfoForm(instance=request.account)
    if not request.membership.can_manage_account:
        for field in form.fields.values():
            field.disabled = True
    context = {**_context(request, form=form, **forms), "section": "settings"}  # type: ignore[arg-type]
    return render(request, "accounts/settings.html", context, status=status)


def _team_change(request: AccountRequest, change: Callable[[], object], done: str) -> HttpResponse:
    if not request.membership.can_manage_account:
        raise PermissionDenied
    try:
        change()
    except TeamError as error:
        messages.error(request, str(error))
        return redirect(reverse("accounts:settings") + "#team-heading")
    messages.success(request, done)
    return redirect(reverse("accounts:settings") + "#team-heading")


@require_POST
@account_required
def team_invite_view(request: AccountRequest) -> HttpResponse:
    """An owner invites someone by email, with a role."""
    if not request.membership.can_manage_account:
        raise PermissionDenied
    form = InviteForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, invite_form=form, status=400)
    try:
        sent = team_invite(
            account=request.account,
            by=request.user,
            email=form.cleaned_data["email"],
            role=form.cleaned_data["role"],
        )
    except TeamError as error:
        form.add_error("email", str(error))
        return _settings_page(request, invite_form=form, status=400)
    messages.success(
        request,
        _("An invitation was sent to %(email)s.") % {"email": sent.invitation.email},
    )
    return redirect(reverse("accounts:settings") + "#team-heading")


@require_POST
@account_required
def team_role_view(request: AccountRequest, pk: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    get_object_or_404(Membership, pk=pk, account=request.account)
    return _team_change(
        request,
        lambda: team_change_role(
            account=request.account,
            by=request.user,
            membership_id=pk,
            role=form.cleaned_data["role"],
        ),
        _("The role was changed."),
    )


@require_POST
@account_required
def team_remove_view(request: AccountRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(Membership, pk=pk, account=request.account)
    leaving = membership.user_id == request.user.pk
    response = _team_change(
        request,
        lambda: team_remove(account=request.account, by=request.user, membership_id=pk),
        _("You left the account.") if leaving else _("The member was removed."),
    )
    if leaving and not Membership.objects.filter(pk=pk).exists():
        return redirect("home")
    return response


@require_POST
@account_required
def team_revoke_view(request: AccountRequest, pk: int) -> HttpResponse:
    get_object_or_404(Invitation, pk=pk, account=request.account)
    return _team_change(
        request,
        lambda: team_revoke(account=request.account, by=request.user, invitation_id=pk),
        _("The invitation was withdrawn."),
    )


def _origin_only_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A page whose address holds a secret (a link's token) gives only the origin as its
    Referer (no-referrer would make its own form's Origin `null`, which CSRF refuses)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "strict-origin"
        return response

    return wrapper


@login_not_required
@never_cache
@require_http_methods(["GET", "POST"])
@_origin_only_referrer
def invitation_view(request: HttpRequest, token: str) -> HttpResponse:
    """The link of an invitation: accept it as the signed-in user of the invited address,
    or, for an address without a user, choose a password and join."""
    invitation = invitation_for(token)
    now = timezone.now()
    if invitation is None or not invitation.is_open(now):
        return render(
            request,
            "accounts/invitation.html",
            {"invitation": invitation, "closed": True},
            status=404 if invitation is None else 410,
        )
    user = request.user if request.user.is_authenticated else None
    has_user = User.objects.with_email(invitation.email).exists()
    new_member = (
        NewMemberForm(request.POST or None, email=invitation.email)
        if user is None and not has_user
        else None
    )
    if request.method == "POST":
        try:
            if user is not None:
                membership = team_accept(token=token, user=user)
            elif new_member is not None and new_member.is_valid():
                membership, created = team_accept_as_new_user(
                    token=token,
                    full_name=new_member.cleaned_data["full_name"],
                    password=new_member.cleaned_data["password1"],
                )
                login(request, created, backend="django.contrib.auth.backends.ModelBackend")
            else:
                membership = None
        except TeamError as error:
            messages.error(request, str(error))
            membership = None
        if membership is not None:
            switch_account(request, membership.account)
            messages.success(
                request,
                _("You joined %(company)s as %(role)s.")
                % {
                    "company": membership.account.company_name,
                    "role": membership.get_role_display(),
                },
            )
            return redirect("home")
    return render(
        request,
        "accounts/invitation.html",
        {
            "invitation": invitation,
            "signed_in_as": user,
            "wrong_user": user is not None and user.email.lower() != invitation.email,
            "has_user": has_user,
            "new_member": new_member,
            "login_url": reverse("login") + "?" + urlencode({"next": request.path}),
        },
        status=400 if request.method == "POST" else 200,
    )


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
    return redirect(page_for_another_account(safe_next(request, form.cleaned_data["next"])))


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


# Two-factor sign-in ------------------------------------------------------------------------


def _signed_in(request: HttpRequest) -> User:
    """The signed-in user (LoginRequiredMiddleware lets no one else reach these views)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _wrong_code(form: CodeForm, checked: CodeCheck) -> None:
    if checked.wait_seconds:
        form.add_error(
            "code",
            ngettext(
                "Too many wrong codes. Wait %(seconds)s second and try again.",
                "Too many wrong codes. Wait %(seconds)s seconds and try again.",
                checked.wait_seconds,
            )
            % {"seconds": checked.wait_seconds},
        )
    else:
        form.add_error("code", _("That code is not right. Try the one your app shows now."))


def _safe_next(request: HttpRequest) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next"))


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_view(request: HttpRequest) -> HttpResponse:
    """Account > Two-factor sign-in: on or off, recovery codes, and turning it off."""
    user = _signed_in(request)
    form = CodeForm(request.POST or None)
    codes: list[str] = []
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            if "disable" in request.POST:
                checked = two_factor_disable(user=user, token=form.cleaned_data["code"])
                if checked.ok:
                    messages.success(request, _("Two-factor sign-in is off."))
                    return redirect("accounts:two_factor")
                _wrong_code(form, checked)
            else:
                renewed = recovery_codes_renew(user=user, token=form.cleaned_data["code"])
                if isinstance(renewed, CodeCheck):
                    _wrong_code(form, renewed)
                else:
                    codes = renewed
        except TwoFactorError as error:
            form.add_error(None, str(error))
        status = 200 if codes else 400
    return render(
        request,
        "accounts/two_factor.html",
        {
            "section": "two_factor",
            "enabled": has_two_factor(user),
            "required": two_factor_required(user),
            "codes_left": recovery_codes_left(user),
            "form": form if request.method == "POST" and not codes else CodeForm(),
            "codes": codes,
        },
        status=status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_setup_view(request: HttpRequest) -> HttpResponse:
    """Set up an authenticator: scan the QR code (or type the key), confirm with a code,
    and keep the recovery codes shown once."""
    user = _signed_in(request)
    if not user.is_verified():  # type: ignore[attr-defined]
        # Only the user's own authenticator replaces it (the middleware asks for it first);
        # and staff, whom the admin lets in with any authenticator of theirs, have theirs
        # issued by an administrator, not made with a password.
        if has_two_factor(user):
            return redirect(
                reverse("accounts:two_factor_verify") + "?" + urlencode({"next": request.path})
            )
        if user.is_staff:
            return render(request, "accounts/two_factor_staff.html", status=403)
    device = totp_start(user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        confirmed = totp_confirm(user=user, token=form.cleaned_data["code"])
        if isinstance(confirmed, CodeCheck):
            _wrong_code(form, confirmed)
        else:
            # The code just given verifies this session too.
            device.refresh_from_db()
            session_verified(request, device)
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": confirmed, "next": _safe_next(request), "section": "two_factor"},
            )
    return render(
        request,
        "accounts/two_factor_setup.html",
        {
            "section": "two_factor",
            "qr_svg": mark_safe(totp_qr_svg(device)),  # noqa: S308 (made by qrcode from our own key)
            "secret": totp_secret(device),
            "form": form,
            "required": two_factor_required(user),
            "next": _safe_next(request),
        },
        status=400 if request.method == "POST" else 200,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def two_factor_verify_view(request: HttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the authenticator, or a recovery code."""
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        checked = verify_second_factor(request, form.cleaned_data["code"])
        if checked.ok:
            return redirect(_safe_next(request))
        _wrong_code(form, checked)
    return render(
        request,
        "accounts/two_factor_verify.html",
        {"form": form, "next": _safe_next(request)},
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@account_required
def security_view(request: AccountRequest) -> HttpResponse:
    """An owner requires (or stops requiring) a second factor of every user."""
    if not request.membership.can_manage_account:
        raise PermissionDenied
    form = SecurityForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest()
    required = form.cleaned_data["require_two_factor"]
    try:
        account_require_two_factor(account=request.account, by=request.user, required=required)
    except TwoFactorError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("Every user of the account now signs in with a second factor.")
            if required
            else _("A second factor is no longer required of every user."),
        )
    return redirect(reverse("accounts:settings") + "#security-heading")


@require_POST
@account_required
def tax_id_view(request: AccountRequest) -> HttpResponse:
    """An owner sets the account's tax ID: checked by its format and check digits, and an EU
    VAT number by VIES when VIES_CHECK is on. A number VIES says is not registered is
    refused; VIES not answering keeps the number as not yet confirmed."""
    if not request.membership.can_manage_account:
        raise PermissionDenied
    form = TaxIdForm(request.POST)
    if form.is_valid():
        kind, number = form.cleaned_data["tax_id_kind"], form.cleaned_data["tax_id"]
        checked = tax_id_status_for(kind=kind, number=number) if kind else None
        if checked and checked.status == TaxIdStatus.INVALID:
            form.add_error(
                "tax_id",
                _(
                    "VIES, the EU's VAT number check, says this number is not registered for "
                    "VAT. Check it, or leave the tax ID empty to be invoiced as a consumer."
                ),
            )
        else:
            account_set_tax_id(
                account=request.account,
                by=request.user,
                kind=kind,
                number=number,
                invoice_title=form.cleaned_data["invoice_title"].strip(),
                checked=checked,
            )
            if checked and checked.status == TaxIdStatus.UNCONFIRMED:
                messages.warning(
                    request,
                    _(
                        "The tax ID has been saved. VIES could not confirm it just now; it is "
                        "checked again every hour, and invoices are taxed as for a consumer "
                        "until it is confirmed."
                    ),
                )
            else:
                messages.success(request, _("The tax ID has been saved."))
            return redirect(reverse("accounts:settings") + "#tax-heading")
    return _settings_page(request, tax_form=form, status=400)
