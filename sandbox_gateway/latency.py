"""How long the sandbox processor takes to answer (`SANDBOX_LATENCY`), so that a demo or a
benchmark feels a real processor (a card charge takes 0.5–3 s at one; Stripe's test charges
answer in about 1.2 s) instead of one that answers at once.

The setting names a distribution and its parameters, durations in ms or s:

- ``lognormal:median=400ms,p99=3s``: a log-normal (how network services' latencies are
  usually shaped: most answers near the median, a long tail), fitted to the median and the
  99th percentile;
- ``uniform:min=200ms,max=1s``;
- ``fixed:value=500ms``.

Empty (the default, and in the test suite) means no wait. A value that does not parse is
refused with ImproperlyConfigured when the settings load.

Pure Python with no Django models: the settings import it to check the value.
"""

from __future__ import annotations

import math
import random
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist

_DURATION = re.compile(r"(?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>ms|s)")
_PARAMETERS = {
    "lognormal": ("median", "p99"),
    "uniform": ("min", "max"),
    "fixed": ("value",),
}
# The 99th percentile of the standard normal distribution.
_Z99 = NormalDist().inv_cdf(0.99)


class LatencyError(ValueError):
    """SANDBOX_LATENCY does not describe a distribution this module knows."""


@dataclass(frozen=True)
class Latency:
    """A distribution of answer times, in seconds."""

    kind: str
    parameters: tuple[tuple[str, float], ...]

    def _get(self, name: str) -> float:
        return dict(self.parameters)[name]

    def sample(self, rng: random.Random | None = None) -> float:
        """One answer time, in seconds."""
        draw = rng or random
        if self.kind == "fixed":
            return self._get("value")
        if self.kind == "uniform":
            return draw.uniform(self._get("min"), self._get("max"))
        median, p99 = self._get("median"), self._get("p99")
        sigma = math.log(p99 / median) / _Z99
        return draw.lognormvariate(math.log(median), sigma)


def _seconds(text: str, *, name: str, setting: str) -> float:
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise LatencyError(
            f"SANDBOX_LATENCY={setting!r}: {name}={text!r} is not a duration like 400ms or 3s."
        )
    number = float(found["number"])
    return number / 1000 if found["unit"] == "ms" else number


@lru_cache(maxsize=16)
def parse_latency(setting: str) -> Latency | None:
    """The distribution `setting` describes; None for an empty one (no wait). Raises
    LatencyError, saying what is wrong, for anything else."""
    text = setting.strip()
    if not text:
        return None
    kind, colon, rest = text.partition(":")
    kind = kind.strip().lower()
    if kind not in _PARAMETERS or not colon:
        known = ", ".join(f"{k}:{'=…,'.join(p)}=…" for k, p in _PARAMETERS.items())
        raise LatencyError(f"SANDBOX_LATENCY={setting!r} is not one of {known}.")
    values: dict[str, float] = {}
    for part in rest.split(","):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or name not in _PARAMETERS[kind] or name in values:
            raise LatencyError(
                f"SANDBOX_LATENCY={setting!r}: {kind} takes "
                + ", ".join(f"{p}=<duration>" for p in _PARAMETERS[kind])
                + f" once each, not {part.strip()!r}."
            )
        values[name] = _seconds(value, name=name, setting=setting)
    missing = [p for p in _PARAMETERS[kind] if p not in values]
    if missing:
        raise LatencyError(f"SANDBOX_LATENCY={setting!r}: {', '.join(missing)} missing.")
    if kind == "lognormal" and not 0 < values["median"] < values["p99"]:
        raise LatencyError(f"SANDBOX_LATENCY={setting!r}: needs 0 < median < p99.")
    if kind == "uniform" and not 0 <= values["min"] <= values["max"]:
        raise LatencyError(f"SANDBOX_LATENCY={setting!r}: needs 0 <= min <= max.")
    return Latency(kind, tuple((p, values[p]) for p in _PARAMETERS[kind]))


def wait(setting: str) -> float:
    """Sleep for one answer time drawn from `setting`'s distribution; the seconds slept."""
    latency = parse_latency(setting)
    if latency is None:
        return 0.0
    seconds = latency.sample()
    time.sleep(seconds)
    return seconds
