"""Production settings refuse what would be unsafe, at load time (each case in a fresh
process, as a deployment loads them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[3]
STRONG_KEY = "k7Qv2-Zp9xLm4R_tY8wB3nC6dF1gH5jK0sA2eU7iO9pQ4rT6yW8zX1cV3bN5mM7"
STRONG_METRICS_TOKEN = "m3tr1cs-T0ken-Z9yX8wV7uT6sR5qP4oN3mL2kJ1"


def run_with_production_settings(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "config.django.production",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://localhost/tally"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        "ALLOWED_HOSTS": "tally.example",
        "SECRET_KEY": STRONG_KEY,
        "METRICS_TOKEN": STRONG_METRICS_TOKEN,
        **environment,
    }
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


LOAD = "from django.conf import settings; print(len(settings.SECRET_KEY))"


def test_production_settings_load_with_a_strong_key() -> None:
    result = run_with_production_settings(LOAD)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(STRONG_KEY))


@pytest.mark.parametrize(
    "key",
    [
        "short-but-random-Zp9xLm4R",
        "a" * 30 + "b" * 30,
        "abcd" * 20,
        "django-insecure-" + STRONG_KEY,
        "django-insecure-development-only-key-not-for-production",
        "test-only-secret-key-with-enough-length-for-hs256-signing",
    ],
)
def test_production_settings_refuse_a_weak_or_public_secret_key(key: str) -> None:
    result = run_with_production_settings(LOAD, SECRET_KEY=key)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr
    assert key not in result.stderr


def test_check_deploy_is_clean_with_production_settings() -> None:
    code = "import sys; from django.core.management import execute_from_command_line; "
    code += (
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
    )
    result = run_with_production_settings(code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("token", ["", "short-token"])
def test_production_settings_require_a_metrics_token(token: str) -> None:
    result = run_with_production_settings(LOAD, METRICS_TOKEN=token)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "METRICS_TOKEN" in result.stderr


def test_production_settings_protect_metrics_with_the_token() -> None:
    code = "from django.conf import settings; print(settings.METRICS_TOKEN)"
    result = run_with_production_settings(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == STRONG_METRICS_TOKEN
