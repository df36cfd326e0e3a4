"""Every lock a money path takes, by name, and the one order they are taken in.

The order is: the Account, then the card-testing counters (the user's, then the client
address's), then the payment (or card, or refund), then its gateway attempt, then invoices
by primary key. Every change of an account's money starts with the Account:
it serialises the payments, automatic charges, refunds and card decisions of one account,
so two of them never interleave (two payments of the same balance, an approval racing a
removal) and, since everyone locks the Account first, they wait for each other instead of
deadlocking. Invoices are locked one at a time, when they are paid
(`invoices.services.invoice_apply_payment`); issuing invoices takes the Account first too.
The card-testing counters (`card_attempts_lock`) are taken by the paths that record a card
attempt (a card added, a one-time card payment started), right after the Account: the
user's and the address's limits span accounts, so the Account's lock alone cannot make their
count exact; they are PostgreSQL advisory locks, held until the transaction ends, and no
path takes one before an Account or holds one across a gateway call.
The billing app's rows are locked only under their Account's lock: an automatic charge
right after it when it is charged (`billing.charges`), or, when a payment's outcome moves
its dunning, after the payment and its invoices (`billing.dunning`); a late fee after the
Account and its invoice (`billing.late_fees`).

Each function runs inside the caller's transaction and returns the row read afresh: what was
read before the lock may be stale. No lock is ever held across a gateway call.
"""

from __future__ import annotations

from django.db import connection
from django.db.transaction import TransactionManagementError

from accounts.locks import account_lock
from accounts.models import Account
from invoices.models import Invoice

from .models import GatewayAttempt, Payment, PaymentMethod, PaymentRefund

__all__ = [
    "account_lock",
    "attempt_lock",
    "card_attempts_lock",
    "invoice_lock",
    "payment_lock",
    "payment_method_lock",
    "refund_lock",
]


# The advisory locks' first key: what the second one (a user's id, an address's hash) counts.
CARD_ATTEMPTS_OF_USER = 0x63617264  # "card"
CARD_ATTEMPTS_OF_ADDRESS = 0x63617265


def card_attempts_lock(*, user_id: int, ip: str | None) -> None:
    """The card-testing counters of a user and of a client address, after the Account.

    While they are held no other card attempt of this user or from this address can be
    counted or recorded, so a count taken under them and the attempt recorded in the same
    transaction are exact. Without PostgreSQL (the SQLite demo) there is nothing to take:
    SQLite lets one transaction write at a time.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("card_attempts_lock is held until a transaction ends.")
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)", [CARD_ATTEMPTS_OF_USER, user_id % 2**31]
        )
        if ip:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [CARD_ATTEMPTS_OF_ADDRESS, ip]
            )


def payment_lock(payment_id: int) -> Payment:
    """The payment's Account, then the payment."""
    account_id = Payment.objects.values_list("account_id", flat=True).get(pk=payment_id)
    account_lock(account_id)
    return Payment.objects.select_for_update().select_related("account").get(pk=payment_id)


def payment_method_lock(payment_method_id: int) -> PaymentMethod:
    """The card's Account (the one monthly card is the account's), then the card."""
    account_id = PaymentMethod.objects.values_list("account_id", flat=True).get(
        pk=payment_method_id
    )
    account_lock(account_id)
    return (
        PaymentMethod.objects.select_for_update()
        .select_related("account")
        .get(pk=payment_method_id)
    )


def refund_lock(refund_id: int) -> tuple[Payment, PaymentRefund, GatewayAttempt]:
    """The refunded payment's Account, the payment, the refund, then its gateway attempt."""
    payment_id = PaymentRefund.objects.values_list("payment_id", flat=True).get(pk=refund_id)
    payment = payment_lock(payment_id)
    refund = PaymentRefund.objects.select_for_update().get(pk=refund_id)
    return payment, refund, GatewayAttempt.objects.select_for_update().get(refund=refund)


def attempt_lock(attempt_id: int) -> GatewayAttempt:
    """A gateway attempt, once what it belongs to (payment, card or refund) is locked."""
    return GatewayAttempt.objects.select_for_update().get(pk=attempt_id)


def invoice_lock(invoice_id: int) -> tuple[Account, Invoice]:
    """The invoice's Account, then the invoice (a late fee charged on it, say)."""
    account_id = Invoice.objects.values_list("account_id", flat=True).get(pk=invoice_id)
    account = account_lock(account_id)
    return account, Invoice.objects.select_for_update().get(pk=invoice_id)
