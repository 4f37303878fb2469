"""Schema fuzzing: schemathesis against a live Tally server, failing on any 5xx or any
response that breaks the published OpenAPI schema.

Starts its own gunicorn on a free port, against the servers in DATABASE_URL / REDIS_URL or
embedded ones under ``var/fuzz``, loads the demo data, and runs every schemathesis phase
(examples, coverage, fuzzing and the stateful phase, which chains operations through the
links it infers) once per caller: anonymous, a customer, a partner by API key, an inactive
vendor, an active vendor and an admin. Each caller gets ``FUZZ_MAX_SECONDS`` (default 40),
so the whole step stays within about five minutes.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[3]
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"
PHASES = "examples,coverage,fuzzing,stateful"
DEMO_PASSWORD = "tally-demo-pass"  # noqa: S105 - the documented development password


@dataclass(frozen=True)
class Caller:
    """Who schemathesis calls as. ``email`` None is anonymous; ``api_key`` authenticates with
    a key the account issues itself at start-up instead of a bearer token. ``role`` and
    ``active`` are what ``GET auth/me/`` must answer for the credentials, before and after
    the run, so a run never passes by quietly testing as someone else."""

    name: str
    email: str | None
    role: str = ""
    active: bool = True
    api_key: bool = False
    # Operations this caller must not fuzz, by operationId: ones that would cut the branch
    # it sits on (revoking the very key it authenticates with).
    exclude_operations: tuple[str, ...] = ()


# Order matters: the world is shared, and the admin may close or deactivate the demo
# vendors, so it goes last; every caller before it only touches its own data.
CALLERS = (
    Caller("anonymous", None),
    Caller("customer", "customer1@tally.local", "customer"),
    Caller("partner", "partner@tally.local", "partner", api_key=True,
           exclude_operations=("api_keys_destroy",)),
    Caller("inactive vendor", "vendor3@tally.local", "vendor", active=False),
    Caller("vendor", "vendor1@tally.local", "vendor"),
    Caller("admin", "admin@tally.local", "admin"),
)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post_json(url: str, body: dict[str, str], *, token: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, str] = json.load(response)
        return result


def _authorization(base: str, caller: Caller) -> str | None:
    """The Authorization header value for ``caller``, obtained through the public API."""
    if caller.email is None:
        return None
    token = _post_json(
        f"{base}/api/v1/auth/login/", {"email": caller.email, "password": DEMO_PASSWORD}
    )["access"]
    if not caller.api_key:
        return f"Bearer {token}"
    issued = _post_json(f"{base}/api/v1/api-keys/", {"name": "schema fuzzing"}, token=token)
    return f"Api-Key {issued['key']}"


def _identity_problem(base: str, caller: Caller, authorization: str | None) -> str | None:
    """Why ``authorization`` does not (or no longer does) make the caller ``caller``; None
    when it does."""
    if authorization is None:
        return None
    request = urllib.request.Request(
        f"{base}/api/v1/auth/me/", headers={"Authorization": authorization}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            me = json.load(response)
    except urllib.error.HTTPError as exc:
        return f"GET auth/me/ answered {exc.code}"
    active = (me.get("vendor") or {}).get("is_active", True)
    if (me["role"], active) != (caller.role, caller.active):
        return f"signed in as {me['role']} (active: {active})"
    return None


def _schemathesis(base: str, caller: Caller, authorization: str | None) -> list[str]:
    bin_dir = Path(sys.executable).parent
    command = [
        str(bin_dir / "schemathesis"), "run", f"{base}/api/schema/",
        "--url", base,
        "--checks", CHECKS,
        "--phases", PHASES,
        "--max-time", os.environ.get("FUZZ_MAX_SECONDS", "40"),
        "--max-examples", os.environ.get("FUZZ_MAX_EXAMPLES", "40"),
        "--seed", os.environ.get("FUZZ_SEED", "1"),
        "--exclude-path-regex", "/auth/logout/",
        "--warnings", "off",
    ]  # fmt: skip
    for operation_id in caller.exclude_operations:
        command += ["--exclude-operation-id", operation_id]
    if authorization is not None:
        command += ["--header", f"Authorization: {authorization}"]
    return command


def _web_start(base: str, port: int, log_path: Path) -> subprocess.Popen[bytes] | None:
    """gunicorn on ``port``, its log (request warnings, tracebacks) in ``log_path``; None if
    it does not answer within a minute."""
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_ACCESS_LOG": "0"}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        web = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.py",
             "config.wsgi:application"],
            cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/health/live", timeout=2):
            return web
        if time.monotonic() > deadline or web.poll() is not None:
            _web_stop(web)
            return None
        time.sleep(0.3)


def _web_stop(web: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(web.pid, signal.SIGTERM)
    web.wait(timeout=30)


def _server_errors(log_path: Path) -> str:
    """The server's ERROR records (a 5xx's traceback), for the CI log."""
    lines = log_path.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if '"level": "ERROR"' in line or "Traceback" in line)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")
    os.environ.setdefault("TALLY_VAR_DIR", str(BASE_DIR / "var" / "fuzz"))
    var_dir = Path(os.environ["TALLY_VAR_DIR"])
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        from tally.platform.embedded import ensure_servers, stop_servers

        # A fresh database every run: fuzzing leaves closed vendors and odd data behind.
        if var_dir.exists():
            stop_servers(var_dir)
            shutil.rmtree(var_dir)
        servers = ensure_servers(var_dir)
        os.environ["DATABASE_URL"] = servers.database_url
        os.environ["REDIS_URL"] = servers.redis_url
    for args in (["migrate", "--noinput", "-v", "0"], ["demo_data"]):
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            check=True,
            stdout=subprocess.DEVNULL,
        )

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = var_dir / "schema-fuzz-web.log"
    web = _web_start(base, port, log_path)
    if web is None:
        print(f"web server did not start; see {log_path}", file=sys.stderr)
        return 1
    started = time.monotonic()
    try:
        # Every credential is fetched before any fuzzing: the anonymous run spends the
        # sign-in rate limit, and nobody's token should outlive its 15 minutes.
        authorizations = {caller.name: _authorization(base, caller) for caller in CALLERS}
        failed: list[str] = []
        for caller in CALLERS:
            authorization = authorizations[caller.name]
            problem = _identity_problem(base, caller, authorization)
            if problem is not None:
                print(f"== {caller.name}: not fuzzed, {problem}", file=sys.stderr, flush=True)
                failed.append(caller.name)
                continue
            print(f"== schemathesis as {caller.name}", flush=True)
            command = _schemathesis(base, caller, authorization)
            if subprocess.run(command, cwd=BASE_DIR).returncode != 0:
                failed.append(caller.name)
            # A caller that lost its identity mid-run (its key revoked, its account closed)
            # was partly fuzzed as nobody: the exclusions above must prevent that.
            problem = _identity_problem(base, caller, authorization)
            if problem is not None:
                print(f"== {caller.name}: after the run, {problem}", file=sys.stderr, flush=True)
                failed.append(caller.name)
        print(f"== schema fuzzing took {time.monotonic() - started:.0f}s", flush=True)
        if failed:
            print(f"schema fuzzing failed as: {', '.join(dict.fromkeys(failed))}", file=sys.stderr)
            print(_server_errors(log_path), file=sys.stderr)
            return 1
        return 0
    finally:
        _web_stop(web)


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    sys.exit(main())
