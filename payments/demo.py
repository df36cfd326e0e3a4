"""Demo cards (one verified monthly card, one awaiting an account representative) and a
few one-time payments for the Payments page's history, made with the sandbox gateway's test
cards through the same services as the pages. With a real gateway configured there are no
test cards, and the demo has no cards or payments."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Account, User
from invoices.models import Invoice

from .card_checks import BillingAddress
from .cards import payment_method_add, payment_method_approve, payment_method_verify
from .core import new_key
from .gateway import card_gateway, paypal_gateway
from .gateways.base import DemoApprovals, DemoCards
from .models import Payment, PaymentMethod
from .one_time import payment_pay_by_card, payment_paypal_capture, payment_paypal_start

HOLDER = "WANG XIAOMING"


def _test_cards() -> DemoCards | None:
    gateway = card_gateway()
    return gateway if isinstance(gateway, DemoCards) else None


def _token(cards: DemoCards, number: str) -> str:
    return cards.test_token(number, holder=HOLDER, exp_year=timezone.localdate().year + 3)


def _add(cards: DemoCards, account: Account, user: User, number: str) -> PaymentMethod:
    method = payment_method_add(
        account=account,
        by=user,
        token=_token(cards, number),
        address=BillingAddress.of_account(account),
        contact_email=user.email,
    )
    return payment_method_verify(payment_method_id=method.pk)


def seed_payment_methods(account: Account, customer: User, rep: User) -> None:
    """Does nothing when the account already has cards."""
    cards = _test_cards()
    if cards is None or PaymentMethod.objects.filter(account=account).exists():
        return
    now = timezone.now()
    monthly = _add(cards, account, customer, "4242424242424242")
    payment_method_approve(payment_method=monthly, by=rep)
    PaymentMethod.objects.filter(pk=monthly.pk).update(created_at=now - timedelta(days=75))
    pending = _add(cards, account, customer, "5555555555554444")
    PaymentMethod.objects.filter(pk=pending.pk).update(created_at=now - timedelta(hours=3))


def seed_payments(account: Account, customer: User) -> None:
    """Pay the two oldest open invoices in the account's currency, one by card and one with
    PayPal. Does nothing when the account already has payments."""
    cards, approvals = _test_cards(), paypal_gateway()
    if (
        cards is None
        or not isinstance(approvals, DemoApprovals)
        or Payment.objects.filter(account=account).exists()
    ):
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
        token=_token(cards, "4242424242424242"),
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
        approvals.approve(started.payment.order_id)
        payment_paypal_capture(payment_id=started.payment.pk)
