from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.current import current_membership

from .models import PaymentMethod

if TYPE_CHECKING:
    from django.http import HttpRequest


def monthly_payment_method(request: HttpRequest) -> dict[str, Any]:
    """The account's monthly card, for the billing summary; queried only where it is shown."""
    membership = current_membership(request) if hasattr(request, "user") else None
    if membership is None:
        return {}

    def monthly() -> PaymentMethod | None:
        return PaymentMethod.objects.filter(
            account_id=membership.account_id, is_monthly=True
        ).first()

    return {"monthly_payment_method": monthly}
