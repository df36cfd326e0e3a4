"""What the apps above invoices add to its pages, without invoices knowing them.

An app that builds on invoices (payments: the monthly payment method and "Pay Balance")
registers a section of the billing summary when Django starts (`AppConfig.ready`); the
Invoices page prints what each returns, in the order registered.
"""

from __future__ import annotations

from collections.abc import Callable
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
