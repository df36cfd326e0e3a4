"""How long a failed task waits for its next try, for every app's tasks."""

from __future__ import annotations

from django.conf import settings


def retry_delay(retries: int, *, first: int) -> int:
    """Seconds before the next try of a task that has failed `retries` times already:
    `first`, doubling each time, never more than TASK_RETRY_MAX_DELAY.

    The cap keeps every wait shorter than the broker's visibility timeout: a task waiting for
    its retry (held, unacknowledged, by a worker) longer than that would be handed to a second
    worker meanwhile, and again every timeout. Every task's countdown comes from here.
    """
    return int(min(first * 2**retries, settings.TASK_RETRY_MAX_DELAY))
