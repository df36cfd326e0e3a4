"""The fault suite's Redis: a `redis-server` of the test's own on a free port, which a test
stops (killed, as a crash would) and starts again on the same port, with the Celery app
pointed at it; and a real worker on it.

The server keeps nothing on disk (no snapshot, no append-only file): started again, it has
lost every queued message, as a Redis that crashed without persistence has. What the portal
must not lose is in PostgreSQL; the tests prove the sweeps find it there.
"""

from __future__ import annotations

import itertools
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from kombu import pools

from portal.celery import app
from tests.parallel import worker_number

# Ports for the fault suite's Redis servers and dead brokers: below Linux's ephemeral range
# (32768 and up), so that no `bind(0)` (a live server, localstripe, another worker's test) is
# ever handed one while a Redis is down between a stop and a start or a dead broker's port
# must stay dead; a block of its own for each pytest-xdist worker; none used twice.
PORTS_PER_WORKER = 400
_ports = itertools.count(21000 + PORTS_PER_WORKER * worker_number())


def _free_port() -> int:
    for port in itertools.islice(_ports, PORTS_PER_WORKER):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken by something else on this machine
            return port
    raise RuntimeError("no free port left in this worker's block")


class RedisServer:
    """One `redis-server` process on a fixed port: `stop()` kills it, `start()` brings it
    back on the same port (empty)."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None, "already running"
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (make test-system-packages installs it)"
        self._process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """Kill the server, as a crash would: whatever it held is gone."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None


def _point_celery_at(url: str) -> None:
    """The app's broker is `url` from now on (its connection and producer pools rebuilt)."""
    pools.reset()  # kombu's pools of every broker, closed and forgotten
    app._after_fork()  # drops the pools, as a forked process does
    app.conf.broker_url = url
    app.conf.broker_write_url = None
    app.conf.broker_read_url = None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own, running, with Celery's broker pointed at it and tasks sent
    to the broker (not run in-process)."""
    server = RedisServer(tmp_path)
    server.start()
    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    _point_celery_at(server.url)
    app.conf.task_always_eager = False
    try:
        yield server
    finally:
        app.conf.task_always_eager = previous_eager
        server.stop()
        _point_celery_at(previous_url)


@pytest.fixture
def dead_broker() -> Iterator[str]:
    """Celery's broker is a Redis that is down (nothing listens on its port), and tasks are
    sent to it (not run in-process)."""
    url = f"redis://127.0.0.1:{_free_port()}/0"
    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    _point_celery_at(url)
    app.conf.task_always_eager = False
    try:
        yield url
    finally:
        app.conf.task_always_eager = previous_eager
        _point_celery_at(previous_url)


WorkerFn = Callable[[], AbstractContextManager[object]]


@pytest.fixture
def redis_worker(redis_server: RedisServer) -> WorkerFn:
    """`with redis_worker():` runs a real Celery worker (in a thread, one task at a time) on
    the test's Redis."""

    @contextmanager
    def _worker() -> Iterator[object]:
        with start_worker(
            app, pool="solo", perform_ping_check=False, shutdown_timeout=20
        ) as worker:
            yield worker

    return _worker


def wait_for(condition: Callable[[], bool], *, timeout: float = 20, what: str = "") -> None:
    """Wait until `condition()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what or condition}")


@pytest.fixture
def silent_broker() -> Iterator[str]:
    """Celery's broker is a Redis that takes connections and never answers (a hung server,
    or a network that drops the replies)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)  # connections wait in the backlog; nothing ever reads them
    url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    previous_url, previous_eager = app.conf.broker_url, app.conf.task_always_eager
    _point_celery_at(url)
    app.conf.task_always_eager = False
    try:
        yield url
    finally:
        app.conf.task_always_eager = previous_eager
        _point_celery_at(previous_url)
        listener.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test of the fault suite is marked `faults` (run them alone with -m faults)."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.faults)
