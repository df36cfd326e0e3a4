"""Demo cards: one verified monthly card and one awaiting an account representative."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import Account, User
from sandbox_gateway.processor import tokenize

from .models import PaymentMethod
from .services import (
    BillingAddress,
    payment_method_add,
    payment_method_approve,
    payment_method_verify,
)


def _add(account: Account, user: User, number: str, holder: str) -> PaymentMethod:
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
    method = payment_method_add(
        account=account,
        by=user,
        token=card.token,
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
