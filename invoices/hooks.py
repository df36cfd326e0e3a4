"""What the apps above invoices add to its pages, without invoices knowing them.

An app that builds on invoices (payments: the monthly payment method and "Pay Balance")
registers a section of the billing summary when Django starts (`AppConfig.ready`); the
Invoices page prints what each returns, in the order registered. Payments also names the
payment behind each allocation on the account statement (`on_statement_payments`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.current import AccountRequest

SummarySection = Callable[["AccountRequest"], str]

_summary: list[SummarySection] = []


def on_billing_summary(section: SummarySection) -> SummarySection:
    _summary.append(section)
    return section


def billing_summary_sections(request: AccountRequest) -> list[str]:
    return [html for section in _summary if (html := section(request))]


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
