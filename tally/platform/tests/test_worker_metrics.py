"""The worker's metrics address refuses a configuration that could not work (the page it
serves is exercised by a real worker in test_deploy_stack.py)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from tally.platform.worker_metrics import worker_metrics_serve


def test_an_address_without_a_shared_metrics_directory_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # when / then
    with pytest.raises(ImproperlyConfigured, match="PROMETHEUS_MULTIPROC_DIR"):
        worker_metrics_serve(bind="127.0.0.1:9100")


@pytest.mark.parametrize("bind", ["9100", "127.0.0.1", "127.0.0.1:port", ""])
def test_an_address_that_is_not_host_and_port_is_refused(
    bind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    # given
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    # when / then
    with pytest.raises(ImproperlyConfigured, match="host:port"):
        worker_metrics_serve(bind=bind)
