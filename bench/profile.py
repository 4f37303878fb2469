"""A flame graph of one Tally web worker under load, and its samples split into layers.

``make bench BENCH_ARGS="--profile docs/flamegraph-spread.svg"`` runs py-spy (sampling, from
outside the process, no code change in Tally) on one web worker for most of the ``spread``
scenario: an SVG flame graph, and the same samples as collapsed stacks, which
:func:`layer_shares` splits into the layers of a request (docs/benchmarks.md). Only samples
in which the worker holds the GIL count (``--gil``): its own CPU work, not its waits on
PostgreSQL and Redis. Sampling costs the machine a little CPU, so a profiled run's rates are
not for quoting.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

from bench.stack import BIN_DIR

SAMPLES_PER_SECOND = 200
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")

# (layer, [(file suffix, function)]): a sample belongs to the first layer one of whose
# functions is on its stack (outermost first), so the SQL that authentication sends is
# authentication's, not the database layer's. Samples in no layer are Django's and DRF's
# dispatch, the middleware and routing; samples outside Django's handler are the server's.
LAYERS: list[tuple[str, list[tuple[str, str]]]] = [
    ("logging", [("logging/__init__.py", "Logger.handle"), ("logging/__init__.py", "handle")]),
    ("authentication (API key)", [("tally/identity/authentication.py", "authenticate")]),
    ("rate limit (Redis)", [("tally/platform/ratelimit/throttles.py", "allow_request")]),
    (
        "idempotency (lock, lookup, fingerprint, stored outcome)",
        [
            ("tally/platform/idempotency/services.py", "idempotency_lock"),
            ("tally/platform/idempotency/services.py", "idempotency_replay"),
            ("tally/platform/idempotency/services.py", "idempotency_store"),
            ("tally/platform/idempotency/services.py", "request_fingerprint"),
        ],
    ),
    ("service and its SQL (accounts, transfer, sale)", [("tally/topups/services.py", "")]),
    (
        "validation and serialization (parse, validate, render)",
        [
            ("rest_framework/serializers.py", "is_valid"),
            ("rest_framework/serializers.py", "data"),
            ("rest_framework/response.py", "rendered_content"),
            ("rest_framework/request.py", "_parse"),
            ("tally/platform/money.py", ""),
        ],
    ),
    (
        "transaction (BEGIN, COMMIT, on-commit hooks)",
        [("django/db/transaction.py", "__enter__"), ("django/db/transaction.py", "__exit__")],
    ),
    ("metrics (django-prometheus)", [("django_prometheus/", "")]),
]
FRAMEWORK = "Django and DRF: middleware, routing, dispatch, the response"
SERVER = "server (gunicorn: accept, parse, write)"


def _matches(function: str, file: str, rule: tuple[str, str]) -> bool:
    suffix, wanted = rule
    # "pkg/" names a whole package; anything else, the end of a file's path.
    in_file = f"/{suffix}" in f"/{file}" if suffix.endswith("/") else file.endswith(suffix)
    return in_file and (not wanted or function == wanted or function.endswith("." + wanted))


def layer_of(frames: list[str]) -> str:
    """The layer of one sample (its frames outermost first)."""
    parsed = []
    for frame in frames:
        match = _FRAME.match(frame)
        if match:
            parsed.append((match["function"], match["file"]))
    in_django = any(file.endswith("django/core/handlers/wsgi.py") for _f, file in parsed)
    if not in_django:
        return SERVER
    for name, rules in LAYERS:
        for function, file in parsed:
            if any(_matches(function, file, rule) for rule in rules):
                return name
    return FRAMEWORK


def layer_shares(collapsed: str) -> dict[str, float]:
    """Share of the samples per layer, from py-spy's raw (collapsed stacks) output."""
    counts: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        layer = layer_of(stack.split(";"))
        counts[layer] = counts.get(layer, 0) + int(count)
        total += int(count)
    order = [name for name, _rules in LAYERS] + [FRAMEWORK, SERVER]
    return {name: round(counts.get(name, 0) / total, 3) for name in order if total}


def worker_pids(master_pid: int) -> list[int]:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children")
    return sorted(int(pid) for pid in children.read_text().split()) if children.exists() else []


@contextlib.contextmanager
def recording(pid: int, svg: Path, duration: float) -> Iterator[Path]:
    """py-spy on ``pid`` for ``duration`` seconds: the SVG at ``svg``, the collapsed stacks
    beside it (``.txt``). Yields the collapsed stacks' path; waits for both on exit."""
    svg.parent.mkdir(parents=True, exist_ok=True)
    raw = svg.with_suffix(".txt")
    common = ["record", "--pid", str(pid), "--duration", str(int(duration))]
    common += ["--rate", str(SAMPLES_PER_SECOND), "--gil", "--nonblocking"]
    py_spy = str(BIN_DIR / "py-spy")
    runs = [
        subprocess.Popen([py_spy, *common, "-o", str(svg)], stdout=subprocess.DEVNULL),
        subprocess.Popen(
            [py_spy, *common, "--format", "raw", "-o", str(raw)], stdout=subprocess.DEVNULL
        ),
    ]
    try:
        yield raw
    finally:
        for run in runs:
            run.wait(timeout=duration + 60)
