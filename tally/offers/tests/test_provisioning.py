"""The provisioning adapter against the provider simulator over real HTTP: answers,
refusals and transient failures, the idempotency key, and the adapter setting."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tally.offers.exceptions import ProviderUnavailableError
from tally.offers.provider_simulator import ProviderSimulator, provider_simulator_run
from tally.offers.provisioning import (
    HttpProvisioningAdapter,
    ProvisioningRequest,
    ProvisioningResult,
    provisioning_adapter,
)
from tally.platform.testing.live_server import free_port

REQUEST = ProvisioningRequest(
    activation_id="a1",
    reference="ACT-ABCDEFGHIJ",
    offer_id="o1",
    offer_kind="internet",
    customer_phone="+14155550100",
    validity_days=30,
    renewal=False,
)


def test_an_activation_is_applied_once_per_idempotency_key(provider: ProviderSimulator) -> None:
    # given
    adapter = HttpProvisioningAdapter()
    # when
    first = adapter.activate(REQUEST, idempotency_key="outbox-1")
    repeat = adapter.activate(REQUEST, idempotency_key="outbox-1")
    other = adapter.activate(REQUEST, idempotency_key="outbox-2")
    # then
    assert first == repeat == ProvisioningResult(activated=True, provider_reference="PRV-1")
    assert other == ProvisioningResult(activated=True, provider_reference="PRV-2")
    assert provider.activated == {"outbox-1": "PRV-1", "outbox-2": "PRV-2"}
    assert provider.calls == ["outbox-1", "outbox-1", "outbox-2"]


def test_a_refusal_is_an_answer_and_stays_a_refusal(provider: ProviderSimulator) -> None:
    # given
    provider.reject_next(1)
    adapter = HttpProvisioningAdapter()
    # when
    first = adapter.activate(REQUEST, idempotency_key="outbox-1")
    repeat = adapter.activate(REQUEST, idempotency_key="outbox-1")
    # then
    assert (
        first
        == repeat
        == ProvisioningResult(
            activated=False,
            failure_code="provider_rejected",
            failure_detail="The provider refused to activate this offer for this line.",
        )
    )
    assert provider.activated == {}


def test_a_503_is_transient_and_applies_nothing(provider: ProviderSimulator) -> None:
    # given
    provider.fail_next(1)
    adapter = HttpProvisioningAdapter()
    # when
    with pytest.raises(ProviderUnavailableError) as failed:
        adapter.activate(REQUEST, idempotency_key="outbox-1")
    retried = adapter.activate(REQUEST, idempotency_key="outbox-1")
    # then
    assert failed.value.reason == "http_503"
    assert retried == ProvisioningResult(activated=True, provider_reference="PRV-1")
    assert provider.calls == ["outbox-1", "outbox-1"]


def test_a_slow_answer_is_a_timeout(provider: ProviderSimulator) -> None:
    # given
    provider.stall_next(seconds=0.5)
    adapter = HttpProvisioningAdapter(timeout_seconds=0.1)
    # when
    with pytest.raises(ProviderUnavailableError) as failed:
        adapter.activate(REQUEST, idempotency_key="outbox-1")
    # then: the provider applied it; the retry gets the same answer
    assert failed.value.reason == "timeout"
    assert adapter.activate(REQUEST, idempotency_key="outbox-1") == ProvisioningResult(
        activated=True, provider_reference="PRV-1"
    )
    assert provider.activated == {"outbox-1": "PRV-1"}


def test_a_provider_that_is_not_listening_is_unreachable() -> None:
    # given
    adapter = HttpProvisioningAdapter(base_url=f"http://127.0.0.1:{free_port()}")
    # when
    with pytest.raises(ProviderUnavailableError) as failed:
        adapter.activate(REQUEST, idempotency_key="outbox-1")
    # then
    assert failed.value.reason == "unreachable"


def test_the_simulators_rates_fail_and_refuse_their_share() -> None:
    # given: every call fails, then every call is refused
    with provider_simulator_run(failure_rate=1.0) as failing:
        adapter = HttpProvisioningAdapter(base_url=failing.url)
        # when / then
        with pytest.raises(ProviderUnavailableError):
            adapter.activate(REQUEST, idempotency_key="k")
        assert failing.activated == failing.rejected == {}
    with provider_simulator_run(reject_rate=1.0) as refusing:
        answer = HttpProvisioningAdapter(base_url=refusing.url).activate(
            REQUEST, idempotency_key="k"
        )
        assert (answer.activated, answer.failure_code) == (False, "provider_rejected")
        assert refusing.rejected == {"k": "provider_rejected"}


def test_the_simulator_speaks_json_over_http(provider: ProviderSimulator) -> None:
    # when
    answer = httpx.post(
        f"{provider.url}/v1/activations", json={}, headers={"Idempotency-Key": "k1"}
    )
    missing_key = httpx.post(f"{provider.url}/v1/activations", json={})
    # then
    assert (answer.status_code, answer.json()) == (
        200,
        {"status": "activated", "provider_reference": "PRV-1"},
    )
    assert (missing_key.status_code, missing_key.json()) == (
        400,
        {"status": "rejected", "code": "idempotency_key_missing"},
    )


class RefuseEverything:
    """A stand-in adapter class, as a real provider's would be plugged in."""

    def activate(self, request: ProvisioningRequest, *, idempotency_key: str) -> ProvisioningResult:
        return ProvisioningResult(activated=False, failure_code="line_blocked")


def test_the_adapter_is_chosen_by_setting(settings: Any) -> None:
    # given
    settings.OFFERS_PROVIDER_ADAPTER = f"{__name__}.RefuseEverything"
    # when
    adapter = provisioning_adapter()
    # then
    assert isinstance(adapter, RefuseEverything)
    assert adapter.activate(REQUEST, idempotency_key="k") == ProvisioningResult(
        activated=False, failure_code="line_blocked"
    )
