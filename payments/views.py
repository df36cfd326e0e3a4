from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.client_address import client_address
from accounts.current import AccountRequest, account_required

from .card_checks import BillingAddress
from .card_fields import card_confirmation_html
from .cards import payment_method_add, payment_method_remove, payment_method_set_monthly
from .chosen import (
    ChosenInvoiceNotFound,
    ChosenInvoices,
    chosen_ids_parse,
    chosen_invoices_check,
)
from .core import new_key
from .errors import PaymentError, PaymentMethodError, TooManyAttempts
from .forms import AddCardForm, CardPaymentForm, PaymentForm
from .gateway import card_fields_csp
from .hooks import payments_page_sections
from .models import Payment, PaymentAllocation, PaymentMethod, PaymentRefund
from .one_time import (
    card_on_file_for_payment,
    card_webhook_receive,
    payment_card_confirmation,
    payment_card_confirmed,
    payment_card_finish,
    payment_card_not_confirming,
    payment_card_start,
    payment_pay_by_card,
    payment_pay_by_card_on_file,
    payment_paypal_cancel,
    payment_paypal_capture,
    payment_paypal_start,
    paypal_accepts,
    paypal_webhook_receive,
)
from .receipts import receipt_filename, receipt_pdf
from .selectors import (
    amount_awaiting_confirmation,
    amount_in_flight,
    amount_owed,
    amount_payable,
    amounts_owed,
    payment_applied,
)


def _with_card_fields[**P](view: Callable[P, HttpResponse]) -> Callable[P, HttpResponse]:
    """A page with the card gateway's fields: its policy lets them load from the gateway."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> HttpResponse:
        response = view(*args, **kwargs)
        response._csp_config = card_fields_csp()  # type: ignore[attr-defined]
        return response

    return wrapper


def _get_method(request: AccountRequest, pk: int) -> PaymentMethod:
    """A card of the account in use; another account's is a 404."""
    return get_object_or_404(PaymentMethod, pk=pk, account=request.account)


def _require_pay_role(request: AccountRequest) -> None:
    if not request.membership.can_pay:
        raise PermissionDenied


def _too_many_attempts(
    request: AccountRequest,
    error: TooManyAttempts,
    *,
    amount: Decimal | None = None,
    currency: str = "",
    invoices: list[int] | None = None,
) -> HttpResponse:
    """Past the card-testing limits: why, and the ways to pay that are still open (PayPal,
    and the verified card on file, which the limits do not concern), for `amount` (what the
    customer was paying; else what is payable) and the invoices they chose."""
    account = request.account
    chosen = _chosen_or_none(request, invoices or [], currency)
    owed = amounts_owed(account)
    if currency not in owed:
        currency = next(iter(owed), account.currency)
    payable = amount_payable(account, currency) if owed else Decimal(0)
    if amount is None or not 0 < amount <= payable:
        amount = payable
    can_pay = request.membership.can_pay and amount > 0
    return render(
        request,
        "payments/too_many_attempts.html",
        {
            "section": "payments",
            "message": str(error),
            "amount": amount,
            "currency": currency,
            "paypal": can_pay and paypal_accepts(currency),
            "paypal_key": new_key(),
            "saved_card": card_on_file_for_payment(account) if can_pay else None,
            "saved_card_key": new_key(),
            "chosen": chosen,
        },
        status=429,
    )


@account_required
def payment_method_list(request: AccountRequest) -> HttpResponse:
    """Account > Billing > Payment Methods: the cards on file, the monthly one marked."""
    methods = list(
        PaymentMethod.objects.filter(account=request.account)
        .exclude(state=PaymentMethod.State.REMOVED)
        .order_by("-is_monthly", "-created_at")
    )
    # The card just added (`?added=<pk>`, from the Add Credit Card page): what became of it
    # is said from its state now, never from what was hoped when it was sent.
    added = next((m for m in methods if str(m.pk) == request.GET.get("added")), None)
    template = (
        "payments/partials/card_list.html"
        if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "card-list"
        else "payments/payment_method_list.html"
    )
    return render(
        request,
        template,
        {
            "section": "payment_methods",
            "methods": methods,
            "added": added,
            "checking": any(m.state == PaymentMethod.State.VERIFYING for m in methods),
            "promise_hours": settings.CARD_PROMISE_HOURS,
            "can_manage": request.membership.can_pay,
        },
    )


@require_http_methods(["GET", "POST"])
@account_required
@_with_card_fields
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
                ip=client_address(request),
            )
        except TooManyAttempts as error:
            return _too_many_attempts(request, error)
        except PaymentMethodError as error:
            form.add_error(None, str(error))
            status = 400
        else:
            # The gateway's check may have answered already (or answers in a few seconds):
            # the list says which, from the card's state.
            return redirect(reverse("payments:methods") + f"?added={method.pk}")
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
            "company_info": BillingAddress.of_account(account).as_fields(),
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


# Payments: pay the balance once, by card or PayPal, and the history ---------------------------


def _get_payment(request: AccountRequest, pk: int) -> Payment:
    """A payment of the account in use; another account's is a 404."""
    return get_object_or_404(
        Payment.objects.select_related("account"), pk=pk, account=request.account
    )


def _chosen_or_none(
    request: AccountRequest, ids: list[int], currency: str | None = None
) -> ChosenInvoices | None:
    """The chosen invoices to show again with a form sent back (its own errors say what
    was wrong with them), or None."""
    if not ids:
        return None
    try:
        return chosen_invoices_check(account=request.account, ids=ids, currency=currency or None)
    except PaymentError:
        return None


def _posted_chosen(form: PaymentForm) -> list[int]:
    try:
        return chosen_ids_parse([str(form.data.get("invoices") or "")])
    except PaymentError:
        return []


def _chosen_of_link(request: AccountRequest) -> tuple[ChosenInvoices | None, str]:
    """The invoices chosen with "Pay selected" or "Pay this invoice" (`?invoice=3&invoice=7`),
    or why they cannot be paid. Another account's invoice is a 404."""
    values = request.GET.getlist("invoice")
    if not values:
        return None, ""
    try:
        return chosen_invoices_check(account=request.account, ids=chosen_ids_parse(values)), ""
    except ChosenInvoiceNotFound as error:
        raise Http404 from error
    except PaymentError as error:
        return None, str(error)


def _payment_page(
    request: AccountRequest,
    *,
    form: PaymentForm | None = None,
    card_form: CardPaymentForm | None = None,
    declined: Payment | None = None,
    status: int = 200,
) -> HttpResponse:
    account = request.account
    owed = amounts_owed(account)
    chosen, chosen_error = (None, "") if form is not None else _chosen_of_link(request)
    if form is not None:
        chosen = _chosen_or_none(request, _posted_chosen(form), form.data.get("currency"))
    if chosen_error:
        status = 400
    currency = (
        chosen.currency
        if chosen is not None
        else (form.data.get("currency") if form is not None else request.GET.get("currency"))
    ) or ""
    if currency not in owed:
        currency = next(iter(owed), account.currency)
    can_pay = request.membership.can_pay and bool(owed)
    in_flight = amount_in_flight(account, currency) if owed else Decimal(0)
    awaiting = amount_awaiting_confirmation(account, currency) if in_flight else Decimal(0)
    if can_pay and form is None:
        # What is owed less what is already being paid: the most a payment may be now; for
        # chosen invoices, what they owe together.
        payable = max(owed[currency] - in_flight, Decimal(0))
        form = PaymentForm(
            account=account,
            currencies=list(owed),
            initial={
                "amount": chosen.total if chosen is not None else payable,
                "currency": currency,
                "key": new_key(),
                "invoices": chosen.as_field() if chosen is not None else "",
            },
        )
        card_form = CardPaymentForm(account=account, initial={"country": account.country})
    elif form is not None:
        # What was wrong with the form as sent is what the page says (a form found wrong
        # first is not the card form's fault)...
        form.is_valid()
        if card_form is not None and card_form.is_bound:
            card_form.is_valid()
        # ...then a fresh key for the next try (the submitted one belongs to the payment
        # just tried), and no card token: a token is single-use.
        data = request.POST.copy()
        data["key"] = new_key()
        data["card_token"] = ""
        form.data = data
        card_form = card_form or CardPaymentForm(
            account=account, initial={"country": account.country}
        )
        if card_form.is_bound:
            card_form.data = data
    payments = Paginator(
        Payment.objects.filter(account=account)
        .select_related("created_by")
        .prefetch_related(
            Prefetch(
                "allocations",
                queryset=PaymentAllocation.objects.select_related("allocation__invoice"),
            )
        ),
        settings.PAYMENTS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "payments/payment_page.html",
        {
            "section": "payments",
            "sections": payments_page_sections(request),
            "owed": owed,
            "currency": currency,
            "in_flight": in_flight - awaiting,
            "awaiting_confirmation": awaiting,
            "paypal": paypal_accepts(currency),
            "can_pay": can_pay,
            "saved_card": card_on_file_for_payment(account) if can_pay else None,
            "chosen": chosen,
            "chosen_error": chosen_error,
            "form": form,
            "card_form": card_form,
            "declined": declined,
            "payments": payments,
            "company_info": BillingAddress.of_account(account).as_fields(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@account_required
@_with_card_fields
def payment_page(request: AccountRequest) -> HttpResponse:
    """Account > Payments: the balance, Payment Amount, Pay with Credit Card or PayPal, and
    the payment history. A POST here pays by card."""
    if request.method == "GET":
        return _payment_page(request)
    _require_pay_role(request)
    account = request.account
    form = PaymentForm(request.POST, account=account, currencies=list(amounts_owed(account)))
    card_form = CardPaymentForm(request.POST, account=account)
    replayed = _replayed(request)
    if replayed is not None:
        return replayed
    confirmed = _confirmed_in_browser(request)
    if confirmed is not None:
        # The amount was checked when the payment started; its outcome is recorded now.
        try:
            payment = payment_card_finish(
                account=account, key=confirmed.key, token=request.POST.get("card_token", "")
            )
        except PaymentError as error:
            form.add_error(None, str(error))
            return _payment_page(request, form=form, card_form=card_form, status=400)
    elif not (form.is_valid() and card_form.is_valid()):
        return _payment_page(request, form=form, card_form=card_form, status=400)
    else:
        try:
            payment = _pay_by_card(request, form, card_form)
        except TooManyAttempts as error:
            return _too_many_attempts(
                request,
                error,
                amount=form.cleaned_data["amount"],
                currency=form.cleaned_data["currency"],
                invoices=form.cleaned_data["invoices"],
            )
        except PaymentError as error:
            form.add_error(None, str(error))
            return _payment_page(request, form=form, card_form=card_form, status=400)
    if payment.state in (Payment.State.DECLINED, Payment.State.FAILED):
        return _payment_page(request, form=form, card_form=card_form, declined=payment, status=402)
    return redirect("payments:detail", pk=payment.pk)


def _pay_by_card(request: AccountRequest, form: PaymentForm, card_form: CardPaymentForm) -> Payment:
    return payment_pay_by_card(
        account=request.account,
        by=request.user,
        token=card_form.cleaned_data["card_token"],
        amount=form.cleaned_data["amount"],
        currency=form.cleaned_data["currency"],
        key=form.cleaned_data["key"],
        address=card_form.billing_address(),
        eu_supported=card_form.cleaned_data["eu_supported"],
        ip=client_address(request),
        invoices=form.cleaned_data["invoices"],
    )


def _confirmed_in_browser(request: AccountRequest) -> Payment | None:
    """The payment whose intent the customer just confirmed in the browser, brought back by
    its form (its key, and the intent as the card token)."""
    key, token = _posted_key(request), _reference(request.POST.get("card_token", ""))
    if not key or not token:
        return None
    return Payment.objects.filter(
        key=key,
        account=request.account,
        method=Payment.Method.CARD,
        reference=token,
        state__in=Payment.IN_FLIGHT,
    ).first()


# What a form key (`core.new_key`) and a processor's reference (an intent or order id) look
# like: anything else (a NUL, a megabyte) is nobody's, and is never put in a query.
_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _posted_key(request: AccountRequest) -> str:
    key = request.POST.get("key", "")
    return key if _KEY.fullmatch(key) else ""


def _reference(value: str) -> str:
    return value if _REFERENCE.fullmatch(value) else ""


def _replayed(request: AccountRequest) -> HttpResponse | None:
    """A form already submitted (double click, refresh, replay): show what it did. The form
    that brings back the intent the customer just confirmed in the browser is not a replay:
    it records that payment's outcome."""
    key = _posted_key(request)
    payment = Payment.objects.filter(key=key, account=request.account).first() if key else None
    if payment is None or payment.state == Payment.State.CREATED:
        return None
    if _confirmed_in_browser(request) is not None:
        return None
    return redirect("payments:detail", pk=payment.pk)


@require_POST
@account_required
def card_payment_start(request: AccountRequest) -> JsonResponse:
    """Pay with Credit Card, with card fields that confirm with the processor in the browser:
    the payment and its intent for the amount on the form; the browser confirms the intent
    and then sends the form (`payment_page`)."""
    _require_pay_role(request)
    account = request.account
    form = PaymentForm(request.POST, account=account, currencies=list(amounts_owed(account)))
    card_form = CardPaymentForm(request.POST, account=account, token_required=False)
    if not (form.is_valid() and card_form.is_valid()):
        errors = [*form.errors.values(), *card_form.errors.values()]
        message = " ".join(str(error) for field_errors in errors for error in field_errors)
        return JsonResponse({"error": message}, status=400)
    try:
        started = payment_card_start(
            account=account,
            by=request.user,
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            key=form.cleaned_data["key"],
            address=card_form.billing_address(),
            eu_supported=card_form.cleaned_data["eu_supported"],
            ip=client_address(request),
            invoices=form.cleaned_data["invoices"],
        )
    except TooManyAttempts as error:
        # The card fields show the message and go to the page of the other ways to pay.
        query = urlencode(
            {
                "amount": form.cleaned_data["amount"],
                "currency": form.cleaned_data["currency"],
                "invoices": ",".join(str(pk) for pk in form.cleaned_data["invoices"]),
            }
        )
        return JsonResponse(
            {"error": str(error), "elsewhere": reverse("payments:too_many") + "?" + query},
            status=429,
        )
    except PaymentError as error:
        return JsonResponse({"error": str(error)}, status=400)
    return JsonResponse(
        {"payment_intent": started.payment.reference, "client_secret": started.client_secret}
    )


@require_GET
@account_required
def too_many_attempts(request: AccountRequest) -> HttpResponse:
    """The page of the ways to pay still open past the card-testing limits, for card fields
    that confirm in the browser (which learn of the limit from `card_payment_start`)."""
    try:
        amount: Decimal | None = Decimal(request.GET.get("amount", ""))
    except ArithmeticError:
        amount = None
    if amount is not None and not amount.is_finite():
        amount = None
    try:
        invoices = chosen_ids_parse([request.GET.get("invoices", "")])
    except PaymentError:
        invoices = []
    return _too_many_attempts(
        request,
        TooManyAttempts(),
        amount=amount,
        currency=request.GET.get("currency", ""),
        invoices=invoices,
    )


@require_POST
@account_required
def card_on_file_pay(request: AccountRequest) -> HttpResponse:
    """Pay once with the verified card on file: the Payments page's first choice (and the
    way left where a new card cannot be tried). The card is charged, never changed."""
    _require_pay_role(request)
    account = request.account
    replayed = _replayed(request)
    if replayed is not None:
        return replayed
    form = PaymentForm(request.POST, account=account, currencies=list(amounts_owed(account)))
    method = card_on_file_for_payment(account)
    if method is None or request.POST.get("payment_method") != str(method.pk):
        messages.error(request, _("This card cannot be charged. Pay with another card or PayPal."))
        return redirect("payments:pay")
    if not form.is_valid():
        return _payment_page(request, form=form, status=400)
    try:
        payment = payment_pay_by_card_on_file(
            account=account,
            by=request.user,
            payment_method=method,
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            key=form.cleaned_data["key"],
            ip=client_address(request),
            invoices=form.cleaned_data["invoices"],
        )
    except PaymentError as error:
        form.add_error(None, str(error))
        return _payment_page(request, form=form, status=400)
    if payment.needs_confirmation:
        return redirect("payments:confirm", pk=payment.pk)
    return redirect("payments:detail", pk=payment.pk)


@require_http_methods(["GET", "POST"])
@account_required
@_with_card_fields
def payment_confirm(request: AccountRequest, pk: int) -> HttpResponse:
    """A charge the customer's bank asked them to confirm (3-D Secure on an automatic
    charge): confirmed here with the bank, then recorded from what the processor says."""
    payment = _get_payment(request, pk)
    if request.method == "POST":
        _require_pay_role(request)
        if "not_confirming" in request.POST:
            payment = payment_card_not_confirming(payment=payment)
            if payment.is_final and payment.state != Payment.State.SUCCEEDED:
                messages.info(
                    request, _("The charge was not made. You can pay the balance once below.")
                )
                return redirect("payments:pay")
            return redirect("payments:detail", pk=payment.pk)
        payment = payment_card_confirmed(payment=payment)
        return redirect("payments:detail", pk=payment.pk)
    if not payment.needs_confirmation:
        return redirect("payments:detail", pk=payment.pk)
    intent = payment_card_confirmation(payment=payment) if request.membership.can_pay else None
    return render(
        request,
        "payments/payment_confirm.html",
        {
            "section": "payments",
            "payment": payment,
            "can_pay": request.membership.can_pay,
            "confirmation": (
                card_confirmation_html(request=request, payment=payment, intent=intent)
                if intent is not None
                else ""
            ),
        },
    )


@require_POST
@account_required
@_with_card_fields
def paypal_start(request: AccountRequest) -> HttpResponse:
    """The PayPal button: create the order for the amount on the server, then send the
    customer to PayPal to approve it."""
    _require_pay_role(request)
    account = request.account
    form = PaymentForm(request.POST, account=account, currencies=list(amounts_owed(account)))
    replayed = _replayed(request)
    if replayed is not None:
        return replayed
    if not form.is_valid():
        return _payment_page(request, form=form, status=400)
    try:
        started = payment_paypal_start(
            account=account,
            by=request.user,
            amount=form.cleaned_data["amount"],
            currency=form.cleaned_data["currency"],
            key=form.cleaned_data["key"],
            return_url=request.build_absolute_uri(reverse("payments:paypal_return")),
            cancel_url=request.build_absolute_uri(reverse("payments:paypal_cancel")),
            ip=client_address(request),
            invoices=form.cleaned_data["invoices"],
        )
    except PaymentError as error:
        form.add_error(None, str(error))
        return _payment_page(request, form=form, status=400)
    if not started.approve_url:
        return redirect("payments:detail", pk=started.payment.pk)
    return redirect(started.approve_url)


def _paypal_payment(request: AccountRequest) -> Payment:
    order_id = _reference(request.GET.get("token", ""))
    if not order_id:
        raise Http404
    return get_object_or_404(
        Payment,
        account=request.account,
        method=Payment.Method.PAYPAL,
        order_id=order_id,
    )


@require_GET
@account_required
def paypal_return(request: AccountRequest) -> HttpResponse:
    """Back from PayPal, approved: capture the order; it counts only once completed."""
    _require_pay_role(request)
    payment = _paypal_payment(request)
    payment = payment_paypal_capture(payment_id=payment.pk)
    return redirect("payments:detail", pk=payment.pk)


@require_GET
@account_required
def paypal_cancel(request: AccountRequest) -> HttpResponse:
    """Back from PayPal, cancelled: nothing was charged."""
    _require_pay_role(request)
    payment = payment_paypal_cancel(payment=_paypal_payment(request))
    if payment.state == Payment.State.CANCELLED:
        messages.info(request, _("You cancelled the payment at PayPal. Nothing was charged."))
        return redirect("payments:pay")
    return redirect("payments:detail", pk=payment.pk)


@account_required
def payment_detail(request: AccountRequest, pk: int) -> HttpResponse:
    """A payment's result and receipt: what it paid, the new balance; or why it did not."""
    payment = _get_payment(request, pk)
    allocations = payment.allocations.select_related("allocation__invoice").order_by("pk")
    return render(
        request,
        "payments/payment_detail.html",
        {
            "section": "payments",
            "payment": payment,
            "allocations": allocations,
            "applied": payment_applied(payment),
            "balance": amount_owed(request.account, payment.currency),
            "refunds": payment.refunds.filter(state=PaymentRefund.State.SUCCEEDED),
        },
    )


@account_required
def payment_receipt_pdf(request: AccountRequest, pk: int) -> HttpResponse:
    """The receipt of a succeeded payment as a PDF, in the reader's language."""
    payment = _get_payment(request, pk)
    if payment.state != Payment.State.SUCCEEDED:
        raise Http404
    pdf = receipt_pdf(payment, translation.get_language() or settings.LANGUAGE_CODE)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{receipt_filename(payment)}"'
    return response


@csrf_exempt
@login_not_required
@require_POST
def card_webhook(request: HttpRequest) -> HttpResponse:
    """The card processor's webhooks (Stripe's): believed only with a valid, fresh signature."""
    outcome = card_webhook_receive(headers=request.headers, body=request.body)
    return HttpResponse(outcome, status=400 if outcome == "ignored" else 200)


@csrf_exempt
@login_not_required
@require_POST
def paypal_webhook(request: HttpRequest) -> HttpResponse:
    """PayPal's webhooks: believed only once PayPal confirms the signature."""
    outcome = paypal_webhook_receive(headers=request.headers, body=request.body)
    return HttpResponse(outcome, status=400 if outcome == "ignored" else 200)
