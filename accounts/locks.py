"""The account lock: the first lock of every change of an account's money or cards.

Taking it first, everywhere, serialises the account's money changes (a payment, an invoice
issued, a card decided) without deadlocks; `payments.locks` names the locks taken after it
and their order.
"""

from __future__ import annotations

from .models import Account


def account_lock(account_id: int) -> Account:
    """Lock the account's row until the caller's transaction ends, and return it afresh."""
    return Account.objects.select_for_update().get(pk=account_id)
