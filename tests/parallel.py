"""What each pytest-xdist worker (gw0, gw1, ...) has of its own, so that the suite can run on
several at once (`make test TEST_WORKERS=...`): the test database (pytest-django suffixes its
name), a Redis database, a block of ports, a MEDIA_ROOT (see tests/conftest.py)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def worker_number() -> int:
    """This process's number among pytest-xdist's workers; 0 without xdist."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def redis_url_of_worker(url: str, number: int) -> str:
    """`url` with its database moved `number` on: gw0 keeps the one REDIS_URL names, gw1
    takes the next, and so on."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + number
    return urlunsplit(parts._replace(path=f"/{database}"))
