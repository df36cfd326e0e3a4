"""What the billing app measures where the work is done: the billing run's accounts, done
and failed, counted by the worker process that ran their chunk (prometheus-client; see
`payments.instruments` for how a prefork worker's processes are added up)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter

billing_run_accounts = Counter(
    "portal_billing_run_accounts",
    "Accounts the billing run's chunks have finished, by result (done, or failed: left due "
    "for the next run).",
    ["result"],
)


def billing_chunk_observed(totals: Mapping[str, int]) -> None:
    """Counts a finished chunk (`billing_run_chunk_task`'s totals)."""
    billing_run_accounts.labels(result="done").inc(totals.get("accounts", 0))
    billing_run_accounts.labels(result="failed").inc(totals.get("failed", 0))
