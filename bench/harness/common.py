"""What every benchmark shares: its environment and Django, its own database, the processes
it starts, its percentile, its command line, its aims and its failure."""

from __future__ import annotations

import argparse
import inspect
import math
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn
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


def use_environment(env: dict[str, str]) -> None:
    """Make `env` this process's environment, and so that of the processes it spawns: what
    it leaves out (REDIS_URL, unless a benchmark sets it) goes."""
    for name in set(os.environ) - set(env):
        del os.environ[name]
    os.environ.update(env)


def setup_django() -> None:
    """Django with the benchmark's settings, in this process: the benchmark's, or one it
    spawned (which inherits its environment)."""
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


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


def close_connections() -> None:
    """Close this process's Django connections, if it opened any: one to a database that is
    dropped (or copied, as a template) would break it, or stop it."""
    from django.conf import settings

    if settings.configured:
        from django.db import connections

        connections.close_all()


def recreate_database(url: str, name: str, template: str | None = None) -> None:
    """Drop `name` and create it again, empty or as a copy of `template`, after closing this
    process's connections."""
    from psycopg import sql

    close_connections()
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

    close_connections()
    with postgres(url) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@dataclass
class ChildProcess:
    """A process a benchmark started (gunicorn, a Celery worker) and the file of its output."""

    name: str  # as its messages start: "gunicorn", "The worker of 2 processes on celery"
    process: subprocess.Popen[bytes]
    log: IO[bytes]

    def tail(self, lines: int = 30) -> str:
        self.log.flush()
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def check(self) -> None:
        """BenchError, with the end of its output, once it has exited."""
        if self.process.poll() is not None:
            raise BenchError(
                f"{self.name} exited with {self.process.returncode}; its log ends with:\n"
                + self.tail()
            )


@contextmanager
def child_process(
    name: str, command: Sequence[str], env: dict[str, str], *, stop_timeout: float
) -> Iterator[ChildProcess]:
    """`command` run in the repository's root with `env`, its output in a temporary file.
    On an error the end of that output is printed (one that exited said so in check()); on
    the way out it gets SIGTERM, and SIGKILL after `stop_timeout` seconds."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        child = ChildProcess(name, process, log)
        try:
            yield child
        except BaseException:
            if process.poll() is None:
                print(f"{name}'s log ends with:\n{child.tail()}", file=sys.stderr)
            raise
        finally:
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def argument_parser(doc: str | None) -> argparse.ArgumentParser:
    """A benchmark's command line, described by the first paragraph of its docstring."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    return argparse.ArgumentParser(
        prog=f"python -m {spec.name}" if spec else None,
        description=doc.split("\n\n")[0] if doc else None,
    )


def print_aims(aims: Sequence[tuple[bool, str]]) -> None:
    """The aims of the issue that asked for the benchmark, each met (PASS) or not (MISS)."""
    print("\nAims")
    for met, text in aims:
        print(f"  {'PASS' if met else 'MISS'}  {text}")


def run_main(main: Callable[[], int]) -> NoReturn:
    """Exit with `main()`'s status, or with 1 after printing the BenchError that stopped it
    (a missed aim is a result: only something that broke fails a benchmark)."""
    try:
        sys.exit(main())
    except BenchError as error:
        source = Path(inspect.getfile(main)).resolve()
        name = source.relative_to(ROOT) if source.is_relative_to(ROOT) else source
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(1)
