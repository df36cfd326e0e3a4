"""Figures of this process's gateway calls, for the metrics endpoint to read: calls in
flight now, and calls made by gateway and outcome with their latency (seconds, summed, and
counted in the buckets of a Prometheus histogram). Plain counters under a lock: cheap
enough to keep always, and threads (the billing run's charges in flight) share them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

# Upper bounds (seconds) of the latency buckets, as Prometheus histograms count them.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass
class CallStats:
    count: int = 0
    seconds: float = 0.0
    # bucket upper bound -> calls that took at most that long (cumulative, as Prometheus).
    buckets: Counter[float] = field(default_factory=Counter)


_lock = threading.Lock()
_in_flight = 0
_calls: dict[tuple[str, str], CallStats] = {}


def calls_in_flight() -> int:
    """Gateway calls this process is waiting on now."""
    return _in_flight


def call_stats() -> dict[tuple[str, str], CallStats]:
    """(gateway, outcome) -> the calls made so far by this process (a copy)."""
    with _lock:
        return {
            key: CallStats(value.count, value.seconds, Counter(value.buckets))
            for key, value in _calls.items()
        }


@contextmanager
def timed_call(gateway: str) -> Iterator[list[str]]:
    """Count a call to `gateway` while it runs, and its latency once it ends; the caller
    appends its outcome to the yielded list ("error" if it raised)."""
    global _in_flight
    outcome: list[str] = []
    started = time.perf_counter()
    with _lock:
        _in_flight += 1
    try:
        yield outcome
    except BaseException:
        outcome.append("error")
        raise
    finally:
        seconds = time.perf_counter() - started
        with _lock:
            _in_flight -= 1
            stats = _calls.setdefault((gateway, outcome[0] if outcome else "none"), CallStats())
            stats.count += 1
            stats.seconds += seconds
            for bound in LATENCY_BUCKETS:
                if seconds <= bound:
                    stats.buckets[bound] += 1
