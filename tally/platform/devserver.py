"""`make run`: Tally on one machine with one command.

Starts (or attaches to) the embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL
are set, migrates, loads demo data, then runs the web server (gunicorn), a Celery worker and
Celery beat, and prints where everything lives. SIGINT or SIGTERM (Ctrl-C) stops every
process it started, embedded servers included.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import FrameType

BASE_DIR = Path(__file__).resolve().parents[2]
VAR_DIR = Path(os.environ.get("TALLY_VAR_DIR", BASE_DIR / "var"))
STOP_TIMEOUT_SECONDS = 15


class Supervisor:
    def __init__(self) -> None:
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.started_servers = False
        self.stopping = False

    def log(self, message: str) -> None:
        print(f"[tally] {message}", flush=True)

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, check=True)

    def spawn(self, name: str, argv: list[str]) -> None:
        # Each child leads its own process group so it can be stopped with all its workers.
        self.children[name] = subprocess.Popen(argv, cwd=BASE_DIR, start_new_session=True)

    def start_servers(self) -> None:
        if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
            self.log("using DATABASE_URL and REDIS_URL from the environment")
            return
        from tally.platform.embedded import ensure_servers

        servers = ensure_servers(VAR_DIR, stop_at_exit=False)
        self.started_servers = servers.started_postgres or servers.started_redis
        os.environ["DATABASE_URL"] = servers.database_url
        os.environ["REDIS_URL"] = servers.redis_url
        self.log(
            f"embedded PostgreSQL and Redis under {VAR_DIR} ({'started' if self.started_servers else 'attached'})"
        )

    def wait_ready(self, url: str, timeout_seconds: float = 60) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline and not self.stopping:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=2) as response,
            ):
                if response.status == 200:
                    return True
            if any(child.poll() is not None for child in self.children.values()):
                return False
            time.sleep(0.5)
        return False

    def stop(self, *_: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.log("stopping…")
        for child in self.children.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        if self.started_servers:
            from tally.platform.embedded import stop_servers

            stop_servers(VAR_DIR)
            self.log("embedded servers stopped")
        self.log("stopped")

    def run(self) -> int:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.django.local")
        port = os.environ.get("PORT", "8000")
        base = f"http://127.0.0.1:{port}"

        def on_signal(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        # Both, explicitly: a process started in the background may inherit SIGINT ignored.
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        try:
            self.start_servers()
            self.manage("migrate", "--noinput", "-v", "0")
            self.manage("collectstatic", "--noinput", "-v", "0")
            self.manage("demo_data")

            metrics_dir = VAR_DIR / "prometheus"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            # Where SSLCommerz (the local sandbox) posts IPNs and sends the buyer back.
            os.environ.setdefault("SSLCOMMERZ_PUBLIC_BASE_URL", base)

            bin_dir = Path(sys.executable).parent
            self.spawn(
                "web",
                [str(bin_dir / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi:application"],
            )
            self.spawn("worker", [str(bin_dir / "celery"), "-A", "config", "worker", "-l", "INFO",
                                  "-c", os.environ.get("WORKER_CONCURRENCY", "2")])  # fmt: skip
            self.spawn("beat", [str(bin_dir / "celery"), "-A", "config", "beat", "-l", "INFO",
                                "-s", str(VAR_DIR / "celerybeat-schedule")])  # fmt: skip
            # The simulated provisioning provider the offers' default adapter calls
            # (OFFERS_PROVIDER_URL); a real provider replaces it in production.
            self.spawn("provider", [sys.executable, "-m", "tally.offers.provider_simulator"])
            # The local SSLCommerz sandbox (SSLCOMMERZ_API_URL) for PAYMENTS_CARD_GATEWAY=
            # sslcommerz.
            self.spawn("sslcommerz", [sys.executable, "-m", "tally.payments.sslcommerz_sandbox"])

            if not self.wait_ready(f"{base}/health/ready"):
                self.log("Tally did not become ready; see the logs above")
                return 1
            self.log(
                "Tally is up:\n"
                f"    API            {base}/api/v1/\n"
                f"    API docs       {base}/api/docs/  (ReDoc: {base}/api/redoc/)\n"
                f"    OpenAPI schema {base}/api/schema/\n"
                f"    Admin          {base}/admin/  (admin@tally.local / tally-demo-pass)\n"
                f"    Health         {base}/health/ready\n"
                f"    Metrics        {base}/metrics\n"
                "    SSLCommerz     sandbox on http://127.0.0.1:"
                f"{os.environ.get('SSLCOMMERZ_SANDBOX_PORT', '8098')} "
                "(PAYMENTS_CARD_GATEWAY=sslcommerz)\n"
                "  Press Ctrl-C to stop everything."
            )
            while True:
                for name, child in self.children.items():
                    if child.poll() is not None:
                        self.log(f"{name} exited with {child.returncode}; stopping")
                        return 1
                time.sleep(1)
        except KeyboardInterrupt:
            return 0
        except subprocess.CalledProcessError as exc:
            self.log(f"setup step failed: {exc}")
            return 1
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self.stop()


def main() -> None:
    sys.path.insert(0, str(BASE_DIR))
    sys.exit(Supervisor().run())


if __name__ == "__main__":
    main()
