"""Sentry, set up from the settings when SENTRY_DSN is set: no personal data, and no
card-like number in anything an event carries (messages, exception values, stack locals,
breadcrumbs, request data), masked as the logs mask them."""

from __future__ import annotations

from typing import Any

import sentry_sdk

from payments.card_numbers import mask_card_numbers


def scrub(value: Any) -> Any:
    """`value` (an event or any part of one) with every card-like number masked."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, dict):
        return {key: scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(item) for item in value]
    return value


def before_send(event: Any, hint: Any) -> Any:
    return scrub(event)


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        before_send=before_send,
        before_send_transaction=before_send,
        before_breadcrumb=lambda crumb, hint: scrub(crumb),
        traces_sample_rate=traces_sample_rate,
    )
