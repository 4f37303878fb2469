"""Progress of a long command: a tqdm bar on a terminal, plain periodic lines otherwise.

A command that works through many steps (ledger checks, demo data, a bulk load) shows how
far it got without flooding a log::

    with progress_run(total=len(checks), description="verifying ledger", unit="check") as bar:
        for check in checks:
            run(check)
            bar.advance(note=check.name)

- **On a terminal** (the stream is a TTY): a tqdm bar, redrawn in place.
- **Otherwise** (a pipe, a file, CI, ``docker logs``): one plain line at most every
  ``interval_seconds`` (``verifying ledger: 4/9 checks (44%), 1.2s elapsed, balances``),
  and a last line when it ends, so a log shows progress without carriage returns or
  escape codes.
- ``enabled=False`` (a ``--no-progress`` flag) shows nothing at all.

Progress goes to stderr by default, so the command's own output on stdout (a report, JSON)
stays clean for whatever reads it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from tqdm import tqdm

DEFAULT_INTERVAL_SECONDS = 10.0


def stream_is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


class Progress:
    """How far a command got; see the module docstring. Use ``progress_run``."""

    def __init__(
        self,
        *,
        total: int | None,
        description: str,
        unit: str,
        stream: TextIO,
        mode: str,
        interval_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self.total = total
        self.description = description
        self.unit = unit
        self.stream = stream
        # "bar", "lines" or "off".
        self.mode = mode
        self.interval_seconds = interval_seconds
        self.clock = clock
        self.done = 0
        self.started = clock()
        self._last_line = self.started
        self._bar: tqdm | None = None
        if mode == "bar":
            self._bar = tqdm(total=total, desc=description, unit=unit, file=stream)

    def _units(self, count: int) -> str:
        return self.unit if count == 1 else f"{self.unit}s"

    def line(self, note: str = "") -> str:
        """The plain line for where the command is now."""
        elapsed = self.clock() - self.started
        if self.total:
            where = (
                f"{self.done:,}/{self.total:,} {self._units(self.total)}"
                f" ({100 * self.done // self.total}%)"
            )
        else:
            where = f"{self.done:,} {self._units(self.done)}"
        text = f"{self.description}: {where}, {elapsed:.1f}s elapsed"
        return f"{text}, {note}" if note else text

    def advance(self, count: int = 1, *, note: str = "") -> None:
        """``count`` more units are done; ``note`` says what (shown on the bar or the line)."""
        self.done += count
        if self._bar is not None:
            if note:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(count)
        elif self.mode == "lines" and self.clock() - self._last_line >= self.interval_seconds:
            self._write(self.line(note))

    def _write(self, text: str) -> None:
        self._last_line = self.clock()
        self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End: close the bar, or write the last line (how much, how long)."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "lines":
            elapsed = self.clock() - self.started
            self._write(
                f"{self.description}: done, {self.done:,} {self._units(self.done)}"
                f" in {elapsed:.1f}s"
            )
            self.mode = "off"


@contextmanager
def progress_run(
    *,
    total: int | None,
    description: str,
    unit: str = "item",
    stream: TextIO | Any | None = None,
    enabled: bool = True,
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Progress]:
    """Show progress of ``total`` units (None: unknown) on ``stream`` (default stderr; a
    command passes ``self.stderr``, so ``call_command(stderr=...)`` captures it): a
    bar on a terminal, a plain line at most every ``interval_seconds`` and one at the end
    otherwise, nothing when not ``enabled``. The last line is written even if the body
    raises, so a log shows how far it got."""
    given = sys.stderr if stream is None else stream
    # A management command's ``self.stderr`` is Django's OutputWrapper, which ends every
    # write with a newline: the bar must reach the real stream to redraw in place.
    out: TextIO = getattr(given, "_out", given)
    if not enabled:
        mode = "off"
    elif stream_is_terminal(out):
        mode = "bar"
    else:
        mode = "lines"
    progress = Progress(
        total=total,
        description=description,
        unit=unit,
        stream=out,
        mode=mode,
        interval_seconds=interval_seconds,
        clock=clock,
    )
    try:
        yield progress
    finally:
        progress.close()
