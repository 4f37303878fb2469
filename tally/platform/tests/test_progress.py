"""Progress of long commands: a tqdm bar on a real terminal (a pty), plain periodic lines on
a pipe, nothing when switched off; ``verify_ledger`` shows it on stderr, never on stdout."""

from __future__ import annotations

import io
import os
import select
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pytest
from django.core.management import call_command

from tally.ledger.verification import verification_checks
from tally.platform.progress import progress_run, stream_is_terminal


class FakeClock:
    """A clock the test moves by hand, so 'at most every N seconds' is exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def pipe() -> Iterator[tuple[TextIO, int]]:
    """A real pipe: a text stream writing into it, and the read end's descriptor."""
    read_fd, write_fd = os.pipe()
    writer = os.fdopen(write_fd, "w")
    try:
        yield writer, read_fd
    finally:
        if not writer.closed:
            writer.close()
        os.close(read_fd)


@contextmanager
def terminal() -> Iterator[tuple[TextIO, int]]:
    """A real pseudo-terminal: a text stream on its slave side, and the master's descriptor."""
    master_fd, slave_fd = os.openpty()
    writer = os.fdopen(slave_fd, "w")
    try:
        yield writer, master_fd
    finally:
        if not writer.closed:
            writer.close()
        os.close(master_fd)


def drain(fd: int) -> str:
    """Everything readable on ``fd`` now (waits briefly for data in flight)."""
    chunks: list[bytes] = []
    while select.select([fd], [], [], 0.2)[0]:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # a pty whose slave side is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_the_kinds_of_stream_are_told_apart() -> None:
    with pipe() as (writer, _), terminal() as (tty, _):
        assert stream_is_terminal(tty)
        assert not stream_is_terminal(writer)
    assert not stream_is_terminal(io.StringIO())


def test_on_a_pipe_it_writes_a_plain_line_at_most_every_interval_and_one_at_the_end() -> None:
    clock = FakeClock()
    with pipe() as (writer, read_fd):
        # when: ten steps, one second apart, a line at most every 4 seconds
        with progress_run(
            total=10,
            description="loading",
            unit="vendor",
            stream=writer,
            interval_seconds=4,
            clock=clock,
        ) as progress:
            for step in range(10):
                clock.now += 1
                progress.advance(note=f"vendor {step}")
        writer.close()
        # then: plain lines, no carriage returns or escape codes
        output = drain(read_fd)
    assert output.splitlines() == [
        "loading: 4/10 vendors (40%), 4.0s elapsed, vendor 3",
        "loading: 8/10 vendors (80%), 8.0s elapsed, vendor 7",
        "loading: done, 10 vendors in 10.0s",
    ]
    assert "\r" not in output
    assert "\x1b" not in output


def test_on_a_pipe_an_unknown_total_counts_and_the_last_line_comes_even_on_failure() -> None:
    clock = FakeClock()
    with pipe() as (writer, read_fd):

        def copy() -> None:
            with progress_run(
                total=None,
                description="copying",
                unit="row",
                stream=writer,
                interval_seconds=0,
                clock=clock,
            ) as progress:
                progress.advance(1000)
                clock.now += 2.5
                progress.advance()
                raise RuntimeError("disk full")

        with pytest.raises(RuntimeError, match="disk full"):
            copy()
        writer.close()
        output = drain(read_fd)
    assert output.splitlines() == [
        "copying: 1,000 rows, 0.0s elapsed",
        "copying: 1,001 rows, 2.5s elapsed",
        "copying: done, 1,001 rows in 2.5s",
    ]


def test_on_a_terminal_it_draws_a_tqdm_bar_in_place() -> None:
    with terminal() as (tty, master_fd):
        # when
        with progress_run(total=3, description="verifying ledger", unit="check", stream=tty) as p:
            for name in ("balances", "zero_sum", "floors"):
                p.advance(note=name)
        tty.flush()
        output = drain(master_fd)
    # then: the bar, redrawn with carriage returns, ending full; no plain "done" line
    assert "\r" in output
    assert "verifying ledger: 100%" in output
    assert "3/3" in output
    assert "floors" in output
    assert "done," not in output


@pytest.mark.parametrize("make_stream", [pipe, terminal])
def test_switched_off_it_writes_nothing(make_stream: object) -> None:
    with make_stream() as (writer, read_fd):  # type: ignore[operator]
        with progress_run(total=2, description="x", stream=writer, enabled=False) as progress:
            progress.advance(2)
        writer.flush()
        assert drain(read_fd) == ""


@pytest.mark.django_db
def test_verify_ledger_prints_plain_progress_on_stderr_when_not_a_terminal() -> None:
    # given: stderr is a pipe
    out = io.StringIO()
    with pipe() as (writer, read_fd):
        # when
        call_command("verify_ledger", stdout=out, stderr=writer)
        writer.close()
        progress = drain(read_fd)
    # then: the report on stdout only; on stderr, plain lines ending with the total
    assert "Result: OK" in out.getvalue()
    assert "verifying ledger" not in out.getvalue()
    [last] = progress.splitlines()[-1:]
    assert last.startswith(f"verifying ledger: done, {len(verification_checks())} checks in ")
    assert "\r" not in progress


@pytest.mark.django_db
def test_verify_ledger_draws_the_bar_when_stderr_is_a_terminal() -> None:
    out = io.StringIO()
    with terminal() as (tty, master_fd):
        call_command("verify_ledger", stdout=out, stderr=tty)
        tty.flush()
        progress = drain(master_fd)
    total = len(verification_checks())
    assert f"{total}/{total}" in progress
    assert "\r" in progress
    assert "Result: OK" in out.getvalue()


@pytest.mark.django_db
def test_verify_ledger_no_progress_writes_nothing_on_stderr() -> None:
    with pipe() as (writer, read_fd):
        call_command("verify_ledger", "--no-progress", stdout=io.StringIO(), stderr=writer)
        writer.close()
        assert drain(read_fd) == ""
