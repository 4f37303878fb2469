"""Browser tests: Playwright drives Debian's chromium against pytest-django's live server.

Playwright's own browser download cannot be used here, so the tests launch the system's
chromium (``apt-get install -y chromium``; ``CHROMIUM_PATH`` to point elsewhere) and are
skipped, with the reason, when it or the playwright package is missing (failed instead when
``BROWSER_TESTS_REQUIRED=1``, so a CI that means to run them cannot pass by skipping them). Each test saves
screenshots of the steps it takes under ``var/browser-artifacts/<test name>/`` (gitignored),
for a person to look at. Run only these with ``pytest -m browser``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from config.env import VAR_DIR

ARTIFACTS_DIR = VAR_DIR / "browser-artifacts"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "browser: drives a real chromium through Playwright (needs /usr/bin/chromium)"
    )


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("BROWSER_TESTS_REQUIRED") == "1":
        pytest.fail(f"BROWSER_TESTS_REQUIRED=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A headless chromium for one test module; skipped (with why) when it cannot start.

    Module-scoped, not session-scoped: Playwright's sync API keeps an asyncio event loop on
    this thread while it runs, so Django takes every ORM call made meanwhile (the tests' own,
    all synchronous, between browser steps) for a call from async code and refuses it unless
    ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set. Both last only as long as this module's tests, so
    the tests that run after them see neither.
    """
    try:
        from playwright import sync_api
    except ImportError:
        _unavailable("the playwright package is not installed (uv sync)")
    executable = chromium_path()
    if executable is None:
        _unavailable(
            "chromium is not installed: apt-get install -y chromium (or set CHROMIUM_PATH)"
        )
    with pytest.MonkeyPatch.context() as patch, sync_api.sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        # --no-sandbox: CI and these machines run the tests as root, where chromium's
        # sandbox refuses to start.
        browser = playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield browser
        browser.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot folder, emptied first."""
    folder = ARTIFACTS_DIR / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder
