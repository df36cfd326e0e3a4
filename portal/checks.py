"""System checks of the task queue's configuration (Django's check framework)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

# The slowest a gateway answers in normal running (DESIGN: 0.5-3 s), and the time a retried
# task (an email with its PDF, a card verification) may take once its wait is over.
SLOWEST_GATEWAY_ANSWER = 3
SLOWEST_RETRIED_TASK = 60


def register() -> None:
    checks.register(check_visibility_timeout, "portal")


def longest_chunk_seconds() -> int:
    """How long a billing chunk may take: every account of it charged at the slowest."""
    return int(settings.BILLING_CHUNK_SIZE) * SLOWEST_GATEWAY_ANSWER


def check_visibility_timeout(**kwargs: Any) -> list[checks.CheckMessage]:
    """BROKER_VISIBILITY_TIMEOUT is longer than a task waits for its retry and runs then
    (else Redis hands it to a second worker while the first still holds it), and longer than
    the longest task, a billing chunk (else a slow chunk runs twice at once)."""
    timeout = settings.BROKER_VISIBILITY_TIMEOUT
    problems: list[checks.CheckMessage] = []
    if timeout <= 0:
        return [checks.Error("BROKER_VISIBILITY_TIMEOUT must be above 0.", id="portal.E003")]
    if timeout <= settings.TASK_RETRY_MAX_DELAY + SLOWEST_RETRIED_TASK:
        problems.append(
            checks.Error(
                f"BROKER_VISIBILITY_TIMEOUT ({timeout} s) must be longer than the longest "
                f"retry delay, TASK_RETRY_MAX_DELAY ({settings.TASK_RETRY_MAX_DELAY} s), plus "
                f"{SLOWEST_RETRIED_TASK} s for the retried task to run: a task waiting for "
                "its retry would be handed to a second worker meanwhile.",
                hint="Raise BROKER_VISIBILITY_TIMEOUT or lower TASK_RETRY_MAX_DELAY.",
                id="portal.E001",
            )
        )
    if longest_chunk_seconds() >= timeout:
        problems.append(
            checks.Error(
                f"BROKER_VISIBILITY_TIMEOUT ({timeout} s) must be longer than a billing chunk "
                f"may run: BILLING_CHUNK_SIZE ({settings.BILLING_CHUNK_SIZE}) accounts at up "
                f"to {SLOWEST_GATEWAY_ANSWER} s each. A slower chunk would be handed to a "
                "second worker while the first still runs it.",
                hint="Lower BILLING_CHUNK_SIZE or raise BROKER_VISIBILITY_TIMEOUT.",
                id="portal.E002",
            )
        )
    return problems
