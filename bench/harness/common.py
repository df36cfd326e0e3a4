"""What every benchmark shares: its environment, its failure and its percentile."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/portal_bench"
SETTINGS_MODULE = "bench.harness.settings"


class BenchError(RuntimeError):
    """Something that makes the measurement impossible (not a missed aim)."""


def bench_environment(**defaults: str) -> dict[str, str]:
    """The environment of a benchmark and the processes it starts: production settings over
    plain http on this machine, tasks in-process. `defaults` apply unless already set."""
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-" + "0" * 24)
    for name, value in defaults.items():
        env.setdefault(name, value)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "DEBUG": "0",
            "SECURE_SSL_REDIRECT": "0",
            "SECURE_COOKIES": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "LOG_LEVEL": "WARNING",
        }
    )
    env.pop("REDIS_URL", None)
    return env


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0.5: the median, 0.95: p95) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]
