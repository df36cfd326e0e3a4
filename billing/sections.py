"""The monthly cycle's part of the customer's pages."""

from __future__ import annotations

from django.template.loader import render_to_string

from accounts.current import AccountRequest

from .charges import autocharges_needing_customer


def autocharges_section(request: AccountRequest) -> str:
    """On the Payments page: the automatic charges that did not go through, and why."""
    charges = list(autocharges_needing_customer(request.account))
    if not charges:
        return ""
    return render_to_string(
        "billing/partials/autocharges_needing_customer.html",
        {"charges": charges},
        request=request,
    )
