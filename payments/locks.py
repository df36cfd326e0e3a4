"""Every lock a money path takes, by name, and the one order they are taken in.

The order is: the Account, then the payment (or card, or refund), then its gateway attempt,
then invoices by primary key. Every change of an account's money starts with the Account:
it serialises the payments, automatic charges, refunds and card decisions of one account,
so two of them never interleave (two payments of the same balance, an approval racing a
removal) and, since everyone locks the Account first, they wait for each other instead of
deadlocking. Invoices are locked one at a time, when they are paid
(`invoices.services.invoice_apply_payment`); issuing invoices takes the Account first too.
The billing app's rows are locked only under their Account's lock: an automatic charge
right after it when it is charged (`billing.charges`), or, when a payment's outcome moves
its dunning, after the payment and its invoices (`billing.dunning`); a late fee after the
Account and its invoice (`billing.late_fees`).

Each function runs inside the caller's transaction and returns the row read afresh: what was
read before the lock may be stale. No lock is ever held across a gateway call.
"""

from __future__ import annotations

from accounts.locks import account_lock
from accounts.models import Account
from invoices.models import Invoice

from .models import GatewayAttempt, Payment, PaymentMethod, PaymentRefund

__all__ = [
    "account_lock",
    "attempt_lock",
    "invoice_lock",
    "payment_lock",
    "payment_method_lock",
    "refund_lock",
]


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
