"""The portal's settings, with the URLs of bench.harness.urls (the portal's plus one page)."""

from __future__ import annotations

from portal.settings import *  # noqa: F403

ROOT_URLCONF = "bench.harness.urls"
