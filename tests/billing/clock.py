"""The billing day's clock, for tests that move it day by day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.utils import timezone

from billing.run import billing_run


def at(day: date, hour: int = 2) -> datetime:
    """The moment the daily run starts on `day`."""
    return timezone.make_aware(datetime.combine(day, time(hour)))


def run(day: date) -> None:
    billing_run(day=day, now=at(day))


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
