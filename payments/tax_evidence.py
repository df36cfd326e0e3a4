"""The tax evidence payments knows: the country of the monthly card's billing address."""

from __future__ import annotations

from accounts.models import Account

from .models import PaymentMethod


def monthly_card_country(account: Account) -> dict[str, str]:
    """{"card_country": ...} of the account's monthly card, or nothing without one."""
    country = (
        PaymentMethod.objects.filter(account=account, is_monthly=True)
        .values_list("country", flat=True)
        .first()
    )
    return {"card_country": str(country)} if country else {}
