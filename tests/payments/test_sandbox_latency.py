"""SANDBOX_LATENCY: the sandbox processor answers after a time drawn from the distribution
the setting names, and a value that does not parse stops the settings from loading."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from decimal import Decimal
from statistics import median

import pytest

from sandbox_gateway import latency, processor
from sandbox_gateway.latency import LatencyError, parse_latency
from tests.faults.worker_processes import ROOT


def test_the_log_normal_has_the_median_and_99th_percentile_it_is_given() -> None:
    shape = parse_latency("lognormal:median=400ms,p99=3s")
    assert shape is not None
    rng = random.Random(17)  # noqa: S311 (a seeded draw, not a secret)
    samples = sorted(shape.sample(rng) for _ in range(40_000))
    assert median(samples) == pytest.approx(0.4, rel=0.05)
    assert samples[int(len(samples) * 0.99)] == pytest.approx(3.0, rel=0.1)


@pytest.mark.parametrize(
    ("setting", "low", "high"),
    [("fixed:value=250ms", 0.25, 0.25), ("uniform:min=0.1s,max=200ms", 0.1, 0.2)],
)
def test_fixed_and_uniform_answer_times_stay_in_their_bounds(
    setting: str, low: float, high: float
) -> None:
    shape = parse_latency(setting)
    assert shape is not None
    draws = [shape.sample(random.Random(n)) for n in range(200)]  # noqa: S311
    assert all(low <= draw <= high for draw in draws)


def test_no_setting_means_no_wait() -> None:
    assert parse_latency("") is None
    assert latency.wait("") == 0.0


@pytest.mark.parametrize(
    "setting",
    [
        "lognormal",
        "lognormal:median=400ms",
        "lognormal:median=400,p99=3s",
        "lognormal:median=3s,p99=400ms",
        "lognormal:median=400ms,p99=3s,p99=4s",
        "lognormal:mean=400ms,p99=3s",
        "gamma:median=400ms,p99=3s",
        "uniform:min=2s,max=1s",
        "fixed:value=-1s",
        "fixed:value=1 s",
    ],
)
def test_a_value_that_does_not_parse_is_refused(setting: str) -> None:
    with pytest.raises(LatencyError, match="SANDBOX_LATENCY"):
        parse_latency(setting)


def test_the_settings_refuse_a_bad_value_with_improperly_configured() -> None:
    env = {**os.environ, "SANDBOX_LATENCY": "lognormal:median=fast", "DEBUG": "1"}
    loaded = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert loaded.returncode != 0
    assert "ImproperlyConfigured" in loaded.stderr
    assert "median='fast' is not a duration" in loaded.stderr


@pytest.mark.django_db
def test_the_processor_acts_at_once_and_answers_after_the_drawn_time(
    settings, card_token, monkeypatch
) -> None:
    settings.SANDBOX_LATENCY = "fixed:value=750ms"
    slept: list[float] = []
    monkeypatch.setattr(latency.time, "sleep", slept.append)
    verified = processor.verify(token=card_token("4242424242424242"), key="verify-1")
    charged = processor.charge(
        amount=Decimal("10.00"), currency="USD", key="charge-1", credential=verified.credential
    )
    assert charged.outcome == "succeeded"
    looked_up = processor.lookup("charge-1")
    assert looked_up is not None and looked_up.reference == charged.reference
    # verify, charge and the look-up each waited once (the charge's own look-up of its key
    # is part of the same request).
    assert slept == [0.75, 0.75, 0.75]


@pytest.mark.django_db
def test_a_time_out_also_comes_after_the_drawn_time(settings, card_token, monkeypatch) -> None:
    settings.SANDBOX_LATENCY = "fixed:value=2s"
    slept: list[float] = []
    monkeypatch.setattr(latency.time, "sleep", slept.append)
    settings.SANDBOX_LATENCY = ""
    verified = processor.verify(token=card_token("4000000000005134"), key="verify-2")
    settings.SANDBOX_LATENCY = "fixed:value=2s"
    with pytest.raises(processor.ProcessorTimeout):
        processor.charge(
            amount=Decimal("10.00"), currency="USD", key="charge-2", credential=verified.credential
        )
    assert slept == [2.0]
