"""Progress of a long management command: a bar on a terminal, plain lines elsewhere.

On a terminal (`isatty()`) a tqdm bar shows the count, the rate, the elapsed time and the
running counts; when the output is a file, a pipe or a log (cron, CI, `docker compose run`)
the same facts are written as plain lines, one at the start, one each tenth of the way and
one at the end, so that a log shows how far a run got without the bar's carriage returns.
It lives in `accounts`, the bottom of the dependency chain, so that every app's command can
use it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from tqdm import tqdm


class Stream(Protocol):
    def write(self, msg: str, /) -> Any: ...


def _is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(callable(isatty) and isatty())


def elapsed(seconds: float) -> str:
    """`12.3 s` under a minute, `4 min 05 s` above."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest:02d} s"


class Progress:
    """`done` of `total` things (`unit`), with running `counts` (issued, charged, …)."""

    def __init__(self, stream: Stream, *, total: int, description: str, unit: str) -> None:
        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self.description = description
        self.unit = unit
        self._started = time.monotonic()
        self._tenths_written = -1
        self._stream = stream
        self._bar: tqdm[Any] | None = None
        if _is_terminal(stream):
            # tqdm redraws one line with carriage returns: it writes to the stream under
            # Django's OutputWrapper, which would end every write with a new line.
            raw = getattr(stream, "_out", stream)
            self._bar = tqdm(
                total=total, desc=description, unit=f" {unit}", file=raw, dynamic_ncols=True
            )
        else:
            self._line()

    def advance(self, by: int = 1, **counts: int) -> None:
        """`by` more done; `counts` are added to the running counts."""
        self.done += by
        for name, value in counts.items():
            self.counts[name] = self.counts.get(name, 0) + value
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.update(by)
            return
        tenths = self.done * 10 // self.total if self.total else 10
        if tenths > self._tenths_written and self.done < self.total:
            self._line()

    def close(self) -> str:
        """Ends the bar (or writes the last line) and returns the summary line."""
        summary = self.summary()
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.close()
        else:
            self._stream.write(summary + "\n")
        return summary

    def summary(self) -> str:
        counts = "".join(f", {value} {name}" for name, value in self.counts.items())
        took = elapsed(time.monotonic() - self._started)
        return f"{self.description}: {self.done}/{self.total} {self.unit}{counts}, {took} elapsed"

    def _line(self) -> None:
        self._tenths_written = self.done * 10 // self.total if self.total else 10
        self._stream.write(self.summary() + "\n")


@contextmanager
def progress(
    stream: Stream, *, total: int, description: str, unit: str = "done"
) -> Iterator[Progress]:
    """`with progress(self.stdout, total=n, description="Billing", unit="accounts") as p:`
    then `p.advance(issued=2)` per item; the last line (or the bar's end) on leaving."""
    tracker = Progress(stream, total=total, description=description, unit=unit)
    try:
        yield tracker
    finally:
        tracker.close()
