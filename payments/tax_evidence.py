"""The tax evidence payments knows: the country of the monthly card's billing address."""

from __future__ import annotations

from collections.abc import Sequence

from accounts.models import Account

from .models import PaymentMethod


def monthly_card_countries(accounts: Sequence[Account]) -> dict[int, dict[str, str]]:
    """{"card_country": ...} of each account's monthly card (accounts without one are left
    out), in one query for however many accounts."""
    rows = PaymentMethod.objects.filter(
        account__in=[account.pk for account in accounts], is_monthly=True
    ).values_list("account_id", "country")
    return {account_id: {"card_country": str(country)} for account_id, country in rows if country}
