"""Demo cards (one verified monthly card, one awaiting an account representative) and a
few one-time payments for the Payments page's history."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Account, User
from invoices.models import Invoice
from sandbox_gateway import paypal
from sandbox_gateway.processor import tokenize

from .checkout import new_key, payment_pay_by_card, payment_paypal_capture, payment_paypal_start
from .models import Payment, PaymentMethod
from .services import (
    BillingAddress,
    payment_method_add,
    payment_method_approve,
    payment_method_verify,
)


def _token(number: str, holder: str) -> str:
    today = timezone.localdate()
    card, errors = tokenize(
        number=number,
        exp_month="12",
        exp_year=str(today.year + 3),
        cvc="123",
        holder=holder,
        today=today,
    )
    assert card is not None, errors
    return card.token


def _add(account: Account, user: User, number: str, holder: str) -> PaymentMethod:
    method = payment_method_add(
        account=account,
        by=user,
        token=_token(number, holder),
        address=BillingAddress.of_account(account),
        contact_email=user.email,
    )
    return payment_method_verify(method.pk)


def seed_payment_methods(account: Account, customer: User, rep: User) -> None:
    """Does nothing when the account already has cards."""
    if PaymentMethod.objects.filter(account=account).exists():
        return
    now = timezone.now()
    monthly = _add(account, customer, "4242424242424242", "WANG XIAOMING")
    payment_method_approve(payment_method=monthly, by=rep)
    PaymentMethod.objects.filter(pk=monthly.pk).update(created_at=now - timedelta(days=75))
    pending = _add(account, customer, "5555555555554444", "WANG XIAOMING")
    PaymentMethod.objects.filter(pk=pending.pk).update(created_at=now - timedelta(hours=3))


def seed_payments(account: Account, customer: User) -> None:
    """Pay the two oldest open invoices in the account's currency, one by card and one with
    PayPal, through the same services as the Payments page. Does nothing when the account
    already has payments."""
    if Payment.objects.filter(account=account).exists():
        return
    oldest = list(
        Invoice.objects.filter(
            account=account, currency=account.currency, state=Invoice.State.OPEN
        ).order_by("issue_date", "pk")[:2]
    )
    if not oldest:
        return
    payment_pay_by_card(
        account=account,
        by=customer,
        token=_token("4242424242424242", "WANG XIAOMING"),
        amount=oldest[0].balance,
        currency=account.currency,
        key=new_key(),
        address=BillingAddress.of_account(account),
    )
    if len(oldest) > 1:
        started = payment_paypal_start(
            account=account,
            by=customer,
            amount=oldest[1].balance,
            currency=account.currency,
            key=new_key(),
            return_url="http://127.0.0.1:8000/payments/paypal/return/",
            cancel_url="http://127.0.0.1:8000/payments/paypal/cancel/",
        )
        paypal.decide(started.payment.order_id, approve=True)
        payment_paypal_capture(payment_id=started.payment.pk)
