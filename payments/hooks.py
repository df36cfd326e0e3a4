"""What the apps above payments react to, without payments knowing them.

An app that builds on payments (the billing app) registers its functions here when Django
starts (`AppConfig.ready`); the payments services call whatever is registered, in the order
registered. Payments never imports those apps.

- `on_payment_outcome`: a payment's outcome was just recorded (succeeded, declined, failed
  or pending), inside the transaction that recorded it, with the payment's Account locked.
  An app may give with it a function for many plain successes recorded together (the
  billing run's, `payments_record_succeeded`), called once for all of them; without one,
  its hook is called for each.
- `on_monthly_card_set`: a card became the account's monthly payment method (same
  transaction, Account locked).
- `on_monthly_card_lost`: the monthly card stopped being usable (it expired).
- `on_payments_page`: a section of the Payments page, as HTML for the account in use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accounts.current import AccountRequest

    from .gateways.base import GatewayResult
    from .models import Payment, PaymentMethod

OutcomeHook = Callable[["Payment", "GatewayResult", datetime], None]
SucceededTogetherHook = Callable[[Sequence["Payment"], datetime], None]
MonthlyCardHook = Callable[["PaymentMethod", datetime], None]
PageSection = Callable[["AccountRequest"], str]

_outcome: list[tuple[OutcomeHook, SucceededTogetherHook | None]] = []
_monthly_set: list[MonthlyCardHook] = []
_monthly_lost: list[MonthlyCardHook] = []
_sections: list[PageSection] = []


def on_payment_outcome(
    hook: OutcomeHook, *, together: SucceededTogetherHook | None = None
) -> OutcomeHook:
    _outcome.append((hook, together))
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
    for hook, _together in _outcome:
        hook(payment, result, now)


def payments_succeeded_recorded(
    outcomes: Sequence[tuple[Payment, GatewayResult]], now: datetime
) -> None:
    """Plain successes recorded together: each app's function for many at once, or its
    hook for each."""
    for hook, together in _outcome:
        if together is not None:
            together([payment for payment, _result in outcomes], now)
        else:
            for payment, result in outcomes:
                hook(payment, result, now)


def monthly_card_set(method: PaymentMethod, now: datetime) -> None:
    for hook in _monthly_set:
        hook(method, now)


def monthly_card_lost(method: PaymentMethod, now: datetime) -> None:
    for hook in _monthly_lost:
        hook(method, now)


def payments_page_sections(request: AccountRequest) -> list[str]:
    return [html for section in _sections if (html := section(request))]
