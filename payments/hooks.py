"""What the apps above payments react to, without payments knowing them.

An app that builds on payments (the billing app) registers its functions here when Django
starts (`AppConfig.ready`); the payments services call whatever is registered, in the order
registered. Payments never imports those apps.

- `on_payment_outcome`: a payment's outcome was just recorded (succeeded, declined, failed
  or pending), inside the transaction that recorded it, with the payment's Account locked.
- `on_monthly_card_set`: a card became the account's monthly payment method (same
  transaction, Account locked).
- `on_monthly_card_lost`: the monthly card stopped being usable (it expired).
- `on_payments_page`: a section of the Payments page, as HTML for the account in use.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.current import AccountRequest

    from .gateways.base import GatewayResult
    from .models import Payment, PaymentMethod

OutcomeHook = Callable[["Payment", "GatewayResult", datetime], None]
MonthlyCardHook = Callable[["PaymentMethod", datetime], None]
PageSection = Callable[["AccountRequest"], str]

_outcome: list[OutcomeHook] = []
_monthly_set: list[MonthlyCardHook] = []
_monthly_lost: list[MonthlyCardHook] = []
_sections: list[PageSection] = []


def on_payment_outcome(hook: OutcomeHook) -> OutcomeHook:
    _outcome.append(hook)
    return hook


def on_monthly_card_set(hook: MonthlyCardHook) -> MonthlyCardHook:
    _monthly_set.append(hook)
    return hook


def on_monthly_card_lost(hook: MonthlyCardHook) -> MonthlyCardHook:
    _monthly_lost.append(hook)
    return hook


def on_payments_page(section: PageSection) -> PageSection:
    _sections.append(section)
    return section


def payment_outcome_recorded(payment: Payment, result: GatewayResult, now: datetime) -> None:
    for hook in _outcome:
        hook(payment, result, now)


def monthly_card_set(method: PaymentMethod, now: datetime) -> None:
    for hook in _monthly_set:
        hook(method, now)


def monthly_card_lost(method: PaymentMethod, now: datetime) -> None:
    for hook in _monthly_lost:
        hook(method, now)


def payments_page_sections(request: AccountRequest) -> list[str]:
    return [html for section in _sections if (html := section(request))]
