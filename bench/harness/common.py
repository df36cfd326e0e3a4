"""What every benchmark shares: its environment, its own database, its failure and its
percentile."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import psycopg

ROOT = Path(__file__).resolve().parents[2]  # the repository's root, where the project is
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
    # The processes it starts (gunicorn, Celery workers) import the project from the root.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
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


def own_database_url(url: str, suffix: str) -> tuple[str, str]:
    """A benchmark's own database next to DATABASE_URL's: its URL and its name (the name +
    `suffix`). Refused unless it is PostgreSQL and the name says "bench": benchmarks may
    drop it."""
    import environ

    parsed = environ.Env.db_url_config(url)
    if "postgresql" not in str(parsed["ENGINE"]):
        raise BenchError(f"DATABASE_URL must point at PostgreSQL, not {parsed['ENGINE']}.")
    name = f"{parsed['NAME']}{suffix}"
    if "bench" not in name:
        raise BenchError(
            f"The benchmarks write to (and may recreate) {name!r}; give them a database whose "
            "name contains 'bench' (portal_bench)."
        )
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}")), name


@contextmanager
def postgres(url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the server's `postgres` database, for creating and dropping others."""
    import environ
    import psycopg

    parsed = environ.Env.db_url_config(url)
    options = {
        "user": str(parsed.get("USER") or ""),
        "password": str(parsed.get("PASSWORD") or ""),
        "host": str(parsed.get("HOST") or ""),
        "port": str(parsed.get("PORT") or ""),
    }
    conninfo = psycopg.conninfo.make_conninfo(
        dbname="postgres", **{key: value for key, value in options.items() if value}
    )
    try:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            yield connection
    except psycopg.OperationalError as error:
        raise BenchError(f"Cannot reach PostgreSQL: {error}".strip()) from error


def recreate_database(url: str, name: str, template: str | None = None) -> None:
    """Drop `name` and create it again, empty or as a copy of `template`."""
    from psycopg import sql

    with postgres(url) as connection:
        identifier = sql.Identifier(name)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(identifier))
        if template is None:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(identifier))
        else:
            connection.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    identifier, sql.Identifier(template)
                )
            )


def drop_database(url: str, name: str) -> None:
    from psycopg import sql

    with postgres(url) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
