"""Provisioning: how Tally asks the provider to switch an offer on for a customer.

The call-out job talks to the provider only through a :class:`ProvisioningAdapter`, chosen by
``OFFERS_PROVIDER_ADAPTER`` (a dotted class path). The default,
:class:`HttpProvisioningAdapter`, POSTs JSON to ``OFFERS_PROVIDER_URL`` — in development and
tests the provider simulator (``tally/offers/provider_simulator.py``) on loopback. A real
provider plugs in by setting the URL (same protocol) or by naming another adapter class.

The protocol (JSON both ways)::

    POST {OFFERS_PROVIDER_URL}/v1/activations
    Idempotency-Key: outbox-<job id>        (the same for every attempt of one activation)
    Authorization: Bearer <OFFERS_PROVIDER_API_KEY>   (when set)
    {"reference": "ACT-…", "offer_id": "…", "offer_kind": "internet", "customer_phone": "+1…",
     "validity_days": 30, "renewal": false}

    200 {"status": "activated", "provider_reference": "PRV-…"}      → succeeded
    4xx {"status": "rejected", "code": "…", "detail": "…"}          → failed (final)
    5xx, 408, 429, timeout, connection error                        → retried with backoff

An adapter raises :class:`~tally.offers.exceptions.ProviderUnavailableError` for a transient
failure and returns a :class:`ProvisioningResult` for an answer, success or refusal. It is
called with no database transaction open and must apply an idempotency key once.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.utils.module_loading import import_string

from tally.offers.exceptions import ProviderUnavailableError

TRANSIENT_STATUSES = frozenset({408, 425, 429})
FAILURE_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass(frozen=True)
class ProvisioningRequest:
    activation_id: str
    reference: str
    offer_id: str
    offer_kind: str
    customer_phone: str
    validity_days: int
    # True when the activation extends an existing subscription.
    renewal: bool


@dataclass(frozen=True)
class ProvisioningResult:
    """The provider's answer: activated (with its own reference) or refused (with a code)."""

    activated: bool
    provider_reference: str = ""
    failure_code: str = ""
    failure_detail: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProvisioningResult:
        return cls(
            activated=bool(data["activated"]),
            provider_reference=str(data.get("provider_reference", "")),
            failure_code=str(data.get("failure_code", "")),
            failure_detail=str(data.get("failure_detail", "")),
        )


class ProvisioningAdapter(Protocol):
    def activate(
        self, request: ProvisioningRequest, *, idempotency_key: str
    ) -> ProvisioningResult: ...


class HttpProvisioningAdapter:
    """The provider protocol above, over HTTP (httpx), one call per attempt."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        timeout_seconds: float | None = None,
        api_key: str | None = None,
    ) -> None:
        self.base_url = (base_url or settings.OFFERS_PROVIDER_URL).rstrip("/")
        self.timeout_seconds = float(
            settings.OFFERS_PROVIDER_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
        )
        self.api_key = settings.OFFERS_PROVIDER_API_KEY if api_key is None else api_key

    def activate(self, request: ProvisioningRequest, *, idempotency_key: str) -> ProvisioningResult:
        headers = {"Idempotency-Key": idempotency_key, "User-Agent": "Tally-Provisioning/1"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        try:
            response = httpx.post(
                f"{self.base_url}/v1/activations",
                json=asdict(request),
                headers=headers,
                timeout=self.timeout_seconds,
            )
        except httpx.TimeoutException as exc:
            raise ProviderUnavailableError(f"timeout: {exc}", reason="timeout") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"unreachable: {exc}", reason="unreachable") from exc
        status = response.status_code
        if status >= 500 or status in TRANSIENT_STATUSES:
            raise ProviderUnavailableError(
                f"HTTP {status}: {response.text[:200]}", reason=f"http_{status}"
            )
        body = _json(response)
        if 200 <= status < 300 and body.get("status") == "activated":
            return ProvisioningResult(
                activated=True, provider_reference=str(body.get("provider_reference", ""))[:100]
            )
        if 400 <= status < 500:
            code = str(body.get("code", ""))
            return ProvisioningResult(
                activated=False,
                failure_code=code if FAILURE_CODE_PATTERN.match(code) else "provider_rejected",
                failure_detail=str(body.get("detail", ""))[:500],
            )
        # A 2xx that is not an activation, or a redirect: not an answer we understand.
        raise ProviderUnavailableError(
            f"HTTP {status}: unexpected answer {response.text[:200]}", reason="unexpected_answer"
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def provisioning_adapter() -> ProvisioningAdapter:
    """The configured adapter (``OFFERS_PROVIDER_ADAPTER``), built with its defaults."""
    adapter_class = import_string(settings.OFFERS_PROVIDER_ADAPTER)
    adapter: ProvisioningAdapter = adapter_class()
    return adapter
