"""The monthly cycle's part of the customer's pages."""

from __future__ import annotations

from django.template.loader import render_to_string

from accounts.current import AccountRequest
from payments.models import Payment

from .charges import autocharges_needing_customer
from .models import AutoChargePayment


def autocharges_section(request: AccountRequest) -> str:
    """On the Payments page: the automatic charges that did not go through, and why."""
    charges = list(autocharges_needing_customer(request.account))
    if not charges:
        return ""
    waiting = {
        link.autocharge_id: link.payment
        for link in AutoChargePayment.objects.filter(
            autocharge__in=[c for c in charges if c.needs_confirmation],
            payment__state=Payment.State.REQUIRES_ACTION,
        ).select_related("payment")
    }
    for charge in charges:
        charge.confirmation_payment = waiting.get(charge.pk)  # type: ignore[attr-defined]
    return render_to_string(
        "billing/partials/autocharges_needing_customer.html",
        {"charges": charges},
        request=request,
    )
