"""Schema fuzzing: schemathesis against a live Tally server, failing on any 5xx or any
response that breaks the published OpenAPI schema.

Starts its own gunicorn on a free port, against the servers in DATABASE_URL / REDIS_URL or
embedded ones under ``var/fuzz``; runs as an admin and as a vendor, within a time budget
(``FUZZ_MAX_SECONDS`` per role, default 60).
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
import urllib.request
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[3]
CHECKS = "not_a_server_error,response_schema_conformance,content_type_conformance,status_code_conformance"
# The vendor goes first: the admin run may close or deactivate demo vendors.
ROLES = {"vendor": "vendor1@tally.local", "admin": "admin@tally.local"}
DEMO_PASSWORD = "tally-demo-pass"  # noqa: S105 - the documented development password


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _post_json(url: str, body: dict[str, str]) -> dict[str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        result: dict[str, str] = json.load(response)
        return result


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")
    os.environ.setdefault("TALLY_VAR_DIR", str(BASE_DIR / "var" / "fuzz"))
    if not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        from tally.platform.embedded import ensure_servers, stop_servers

        # A fresh database every run: fuzzing leaves closed vendors and odd data behind.
        var_dir = Path(os.environ["TALLY_VAR_DIR"])
        if var_dir.exists():
            stop_servers(var_dir)
            shutil.rmtree(var_dir)
        servers = ensure_servers(var_dir)
        os.environ["DATABASE_URL"] = servers.database_url
        os.environ["REDIS_URL"] = servers.redis_url
    python = sys.executable
    bin_dir = Path(python).parent
    for args in (["migrate", "--noinput", "-v", "0"], ["demo_data"]):
        subprocess.run(
            [python, "manage.py", *args], cwd=BASE_DIR, check=True, stdout=subprocess.DEVNULL
        )

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2", "GUNICORN_ACCESS_LOG": "0"}
    web = subprocess.Popen(
        [str(bin_dir / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{base}/health/live", timeout=2),
            ):
                break
            if time.monotonic() > deadline or web.poll() is not None:
                print("web server did not start", file=sys.stderr)
                return 1
            time.sleep(0.3)

        budget = os.environ.get("FUZZ_MAX_SECONDS", "60")
        failed = False
        for role, email in ROLES.items():
            token = _post_json(
                f"{base}/api/v1/auth/login/", {"email": email, "password": DEMO_PASSWORD}
            )["access"]
            print(f"== schemathesis as {role} ({budget}s budget)", flush=True)
            result = subprocess.run(
                [
                    str(bin_dir / "schemathesis"), "run", f"{base}/api/schema/",
                    "--url", base,
                    "--checks", CHECKS,
                    "--max-time", budget,
                    "--max-examples", os.environ.get("FUZZ_MAX_EXAMPLES", "40"),
                    "--seed", os.environ.get("FUZZ_SEED", "1"),
                    "--exclude-path-regex", "/auth/logout/",
                    "--header", f"Authorization: Bearer {token}",
                    "--warnings", "off",
                ],
                cwd=BASE_DIR,
            )  # fmt: skip
            failed = failed or result.returncode != 0
        return 1 if failed else 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)


if __name__ == "__main__":
    sys.path.insert(0, str(BASE_DIR))
    sys.exit(main())
