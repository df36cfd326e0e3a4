"""What the apps above invoices add to its pages, without invoices knowing them.

An app that builds on invoices (payments: the monthly payment method and "Pay Balance")
registers a section of the billing summary when Django starts (`AppConfig.ready`); the
Invoices page prints what each returns, in the order registered.

The app that takes payments also registers where chosen invoices are paid
(`on_pay_invoices`): the URL of its page, or "" for a user who may not pay. The Invoices
list's "Pay selected" and an invoice's "Pay this invoice" send the invoices' ids there as
`?invoice=<id>&invoice=<id>`, in the order shown. Payments also names the payment behind
each allocation on the account statement (`on_statement_payments`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.current import AccountRequest
    from accounts.models import Account

SummarySection = Callable[["AccountRequest"], str]
PayUrl = Callable[["AccountRequest"], str]

_summary: list[SummarySection] = []
_pay_url: list[PayUrl] = []


def on_billing_summary(section: SummarySection) -> SummarySection:
    _summary.append(section)
    return section


def billing_summary_sections(request: AccountRequest) -> list[str]:
    return [html for section in _summary if (html := section(request))]


# Where the buyer is, as the apps above invoices know it (payments: the country of the
# monthly card's billing address), for the tax evidence of an invoice (invoices/tax.py).
TaxEvidence = Callable[[Sequence["Account"]], dict[int, dict[str, str]]]

_tax_evidence: list[TaxEvidence] = []


def on_tax_evidence(provider: TaxEvidence) -> TaxEvidence:
    _tax_evidence.append(provider)
    return provider


def tax_evidence(accounts: Sequence[Account]) -> dict[int, dict[str, str]]:
    """What every registered provider knows of where each of `accounts` is, by account id
    (later providers win); one query a provider however many accounts."""
    evidence: dict[int, dict[str, str]] = {account.pk: {} for account in accounts}
    for provider in _tax_evidence:
        for account_id, facts in provider(accounts).items():
            evidence.setdefault(account_id, {}).update(facts)
    return evidence


def on_pay_invoices(provider: PayUrl) -> PayUrl:
    _pay_url.append(provider)
    return provider


def pay_invoices_url(request: AccountRequest) -> str:
    """Where the invoices the user chose are paid, or "" (nobody takes payments, or the user
    may not pay)."""
    return next((url for provider in _pay_url if (url := provider(request))), "")


# The statement's payment lines ------------------------------------------------------------


@dataclass(frozen=True)
class PaymentRef:
    """How the app that owns payments names the payment an allocation came from: `key` is
    the same for every allocation of one payment, `label` is printed (a receipt number),
    `url` is its page ("" for none)."""

    key: str
    label: str
    url: str = ""


PaymentRefs = Callable[[list[int]], dict[int, PaymentRef]]

_payment_refs: list[PaymentRefs] = []


def on_statement_payments(lookup: PaymentRefs) -> PaymentRefs:
    _payment_refs.append(lookup)
    return lookup


def statement_payment_refs(allocation_ids: list[int]) -> dict[int, PaymentRef]:
    """The payment of each allocation id that a registered app knows (one query each)."""
    found: dict[int, PaymentRef] = {}
    if not allocation_ids:
        return found
    for lookup in _payment_refs:
        found.update(lookup(allocation_ids))
    return found
