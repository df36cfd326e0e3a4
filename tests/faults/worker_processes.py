"""Real Celery workers in processes of their own, for the fault tests: started as
`celery worker` is, killed as a lost machine or the OOM killer would kill them.

Run as `python -m tests.faults.worker_processes <celery worker options>`, the worker takes
its faults from the environment:

- FAULT_TASK_LOG: a file each task's start is appended to (time, task id, name, process),
  and the worker's readiness, so that a test sees which worker ran what and when.
- FAULT_HOLD_AFTER_CHARGES=N: after the Nth card charge the sandbox processor carried out
  (counted across the threads that make a chunk's charges), the worker writes
  FAULT_HOLD_MARKER and that charge's thread waits forever before the answer reaches the
  portal: the money moved, the outcome is not recorded, and the test kills it there.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


# In the worker's process ----------------------------------------------------------------------


def _log(line: str) -> None:
    path = os.environ.get("FAULT_TASK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"{time.time():.3f} {line}\n")


def _install_faults() -> None:
    from celery.signals import task_prerun, worker_ready

    from payments.gateways.sandbox import SandboxGateway

    def log_start(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
        _log(f"start {task_id} {task.name} {os.getpid()}")

    def log_ready(**kwargs: Any) -> None:
        _log(f"ready - - {os.getpid()}")

    task_prerun.connect(log_start, weak=False)
    worker_ready.connect(log_ready, weak=False)

    hold_after = int(os.environ.get("FAULT_HOLD_AFTER_CHARGES", "0"))
    if not hold_after:
        return
    real_charge = SandboxGateway._charge
    charges = 0
    counting = threading.Lock()  # the billing run's charges are made by several threads

    def charge_then_hold(self: SandboxGateway, **request: Any) -> Any:
        nonlocal charges
        result = real_charge(self, **request)
        with counting:
            charges += 1
            held = charges == hold_after
        if held:
            Path(os.environ["FAULT_HOLD_MARKER"]).write_text(request["key"])
            while True:  # the answer never comes back: the worker is killed here
                time.sleep(1)
        return result

    SandboxGateway._charge = charge_then_hold  # type: ignore[method-assign]


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from portal.celery import app

    _install_faults()
    app.worker_main(["worker", *argv])


# In the test's process -------------------------------------------------------------------------


def database_url_of_the_test() -> str:
    """The URL of the database the running test uses (the test database, not DATABASE_URL's)."""
    from django.db import connection

    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}{port}/{db['NAME']}"


@contextmanager
def worker_process(
    *, name: str, queues: str, environment: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A prefork worker of one pool process on `queues`, in a session of its own (so that it
    and its pool can be killed together); stopped on the way out if still alive."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_the_test(),
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "FAULT_TASK_LOG": str(log),
        **environment,
    }
    command = [
        sys.executable,
        "-m",
        "tests.faults.worker_processes",
        "--pool=prefork",
        "--concurrency=1",
        f"--queues={queues}",
        f"--hostname={name}@%h",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with open(log.with_suffix(f".{name}.out"), "wb") as output:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool at once: nothing is acknowledged or handed back."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def log_entries(log: Path) -> list[tuple[float, str, str, str, int]]:
    """(time, what, task id, task name, process id) for every line of the task log."""
    if not log.exists():
        return []
    entries = []
    for line in log.read_text(encoding="utf-8").splitlines():
        stamp, what, task_id, task_name, pid = line.split()
        entries.append((float(stamp), what, task_id, task_name, int(pid)))
    return entries


if __name__ == "__main__":
    main(sys.argv[1:])
