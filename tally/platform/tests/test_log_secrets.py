"""No secret reaches the logs. The flows that handle secrets run for real (the Django test
client, a real Celery worker, the SSLCommerz sandbox, the provider simulator and a partner's
callback endpoint over loopback HTTP) with every logger at DEBUG (beyond ``LOG_LEVEL=DEBUG``:
the loggers settings pin higher are lowered too), each record written by the product's own
JSON formatter and request-id filter; then the text is searched for every secret the run handled:
passwords (right and wrong), JWT access and refresh tokens, API keys, the partner's signing
secret, the order's access token, the card number, the gateway's store password and
``SECRET_KEY``."""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils.module_loading import import_string
from rest_framework.test import APIClient

from tally.catalog.testing import variant_make
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.identity.services import partner_create
from tally.offers.models import Activation, ActivationStatus
from tally.offers.provider_simulator import provider_simulator_run
from tally.offers.testing import customer_fund, offer_make
from tally.orders.testing import order_place_for_test
from tally.partners.testing import partner_server_run
from tally.payments.models import Payment, PaymentStatus
from tally.payments.sslcommerz_sandbox import sslcommerz_sandbox_run
from tally.platform.testing.race import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

CARD_NUMBER = "4242 4242 4242 4242"
IPN_URL = "/api/v1/payments/webhooks/sslcommerz/"


class _Secrets:
    """Every secret value the run handled, by what it is."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {"SECRET_KEY": settings.SECRET_KEY}

    def add(self, name: str, value: str) -> str:
        assert value, name
        self.values[name] = value
        return value

    def leaks(self, text: str) -> dict[str, list[str]]:
        """Each secret found in ``text``, with the first lines that hold it."""
        lines = text.splitlines()
        return {
            name: [line[:500] for line in lines if value in line][:3]
            for name, value in sorted(self.values.items())
            if value in text
        }


@pytest.fixture
def log_file(celery_worker: Any, tmp_path: Path) -> Iterator[Path]:
    """Every record of every logger at DEBUG, formatted as production formats it, in a
    file. Taken after the worker started, so its own logging set-up cannot undo it."""
    path = tmp_path / "run.log"
    logging_config: dict[str, Any] = settings.LOGGING
    formatter_config = dict(logging_config["formatters"]["json"])
    formatter_factory = import_string(formatter_config.pop("()"))
    # As logging.config passes it: the format string as ``fmt``.
    formatter = formatter_factory(fmt=formatter_config.pop("format"), **formatter_config)
    filter_config = dict(logging_config["filters"]["request_id"])
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(formatter)
    handler.addFilter(import_string(filter_config.pop("()"))(**filter_config))
    root = logging.getLogger()
    loggers = [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in [root, *loggers]]
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    # Loggers that stop propagation get the handler themselves.
    isolated = [logger for logger in loggers if not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    for logger in isolated:
        logger.addHandler(handler)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        for logger in isolated:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled
        handler.close()


def _client(authorization: str | None = None) -> APIClient:
    client = APIClient()
    if authorization:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def _ok(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return cast(dict[str, Any], response.json()) if response.content else {}


def _login(found: _Secrets, who: str, email: str, password: str) -> dict[str, str]:
    tokens = _ok(
        _client().post(
            "/api/v1/auth/login/",
            {"email": email, "password": password},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"login-{who}",
        ),
        200,
    )
    found.add(f"{who} access token", tokens["access"])
    found.add(f"{who} refresh token", tokens["refresh"])
    return tokens


def _accounts(found: _Secrets) -> dict[str, Any]:
    """Register, log in (and fail to), refresh, log out, use a revoked token; a vendor
    activated by an admin issues, uses, misuses and revokes an API key."""
    password = found.add("customer password", secrets.token_urlsafe(18))
    wrong = found.add("wrong password", secrets.token_urlsafe(18))
    _ok(
        _client().post(
            "/api/v1/auth/register/",
            {
                "email": "buyer@example.com",
                "password": password,
                "role": "customer",
                "phone": "+14155550123",
            },
            format="json",
        ),
        201,
    )
    refused = _client().post(
        "/api/v1/auth/login/", {"email": "buyer@example.com", "password": wrong}, format="json"
    )
    assert refused.status_code == 401
    tokens = _login(found, "customer", "buyer@example.com", password)
    assert _client(f"Bearer {tokens['access']}").get("/api/v1/auth/me/").status_code == 200
    refreshed = _ok(
        _client().post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, format="json"), 200
    )
    found.add("refreshed access token", refreshed["access"])
    found.add("rotated refresh token", refreshed["refresh"])
    reused = _client().post("/api/v1/auth/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert reused.status_code == 401
    _ok(
        _client().post("/api/v1/auth/logout/", {"refresh": refreshed["refresh"]}, format="json"),
        204,
    )
    bad_bearer = _client(f"Bearer {tokens['access']}x").get("/api/v1/auth/me/")
    assert bad_bearer.status_code == 401

    admin_password = found.add("admin password", secrets.token_urlsafe(18))
    # As createsuperuser makes one (a factory would log the password it was given).
    User.objects.create_superuser("admin@example.com", admin_password)
    admin_tokens = _login(found, "admin", "admin@example.com", admin_password)
    vendor_password = found.add("vendor password", secrets.token_urlsafe(18))
    _ok(
        _client().post(
            "/api/v1/auth/register/",
            {
                "email": "shop@example.com",
                "password": vendor_password,
                "role": "vendor",
                "business_name": "Shop",
            },
            format="json",
        ),
        201,
    )
    vendor = VendorProfile.objects.get(user__email="shop@example.com")
    _ok(
        _client(f"Bearer {admin_tokens['access']}").post(
            f"/api/v1/vendors/{vendor.pk}/activate/", format="json"
        ),
        200,
    )
    vendor_tokens = _login(found, "vendor", "shop@example.com", vendor_password)
    issued = _ok(
        _client(f"Bearer {vendor_tokens['access']}").post(
            "/api/v1/api-keys/", {"name": "till"}, format="json"
        ),
        201,
    )
    key = found.add("vendor API key", issued["key"])
    found.add("vendor API key's secret part", key.rsplit("_", 1)[1])
    assert _client(f"Api-Key {key}").get("/api/v1/auth/me/").status_code == 200
    assert _client(f"Api-Key {key[:-2]}zz").get("/api/v1/auth/me/").status_code == 401
    _ok(
        _client(f"Bearer {vendor_tokens['access']}").delete(f"/api/v1/api-keys/{issued['id']}/"),
        204,
    )
    assert _client(f"Api-Key {key}").get("/api/v1/auth/me/").status_code == 401
    return {"customer": CustomerProfile.objects.get(user__email="buyer@example.com")}


def _partner_activation(found: _Secrets, customer: CustomerProfile) -> None:
    """A partner, created with its signing secret, logs in, issues an API key and buys an
    offer for a customer; the worker activates it and calls the partner back, signed."""
    with (
        provider_simulator_run(latency_ms=0, failure_rate=0) as provider,
        partner_server_run() as server,
        override_settings(OFFERS_PROVIDER_URL=provider.url),
    ):
        password = found.add("partner password", secrets.token_urlsafe(18))
        partner, signing_secret = partner_create(
            actor=None,
            email="partner@example.com",
            password=password,
            name="Partner",
            callback_url=server.url,
        )
        found.add("partner signing secret", signing_secret)
        tokens = _login(found, "partner", "partner@example.com", password)
        issued = _ok(
            _client(f"Bearer {tokens['access']}").post(
                "/api/v1/api-keys/", {"name": "backend"}, format="json"
            ),
            201,
        )
        key = found.add("partner API key", issued["key"])
        customer_fund(customer, 1000)
        offer = offer_make(price=500)
        _ok(
            _client(f"Api-Key {key}").post(
                "/api/v1/partner/activations/",
                {"customer_phone": customer.phone, "offer": str(offer.id), "reference": "r-1"},
                format="json",
            ),
            202,
        )
        server.wait_for_calls(1, timeout_seconds=60)
        validated = _client(f"Api-Key {key}").get("/api/v1/partner/validate/r-1/")
        assert validated.status_code == 200, validated.content
    assert Activation.objects.get(partner=partner).status == ActivationStatus.SUCCEEDED


def _payments(found: _Secrets) -> None:
    """A guest pays by card (the sandbox card gateway, through the worker), then another
    guest pays on SSLCommerz's hosted page: a forged notice is refused, the worker opens the
    session and validates the genuine IPN with the store password."""
    first = order_place_for_test(lines=[(variant_make(price=10_00, stock=5), 1)])
    token = found.add("order access token", first.access_token)
    found.add("card number", CARD_NUMBER)
    found.add("card number, digits only", CARD_NUMBER.replace(" ", ""))
    paid = _ok(
        _client().post(
            f"/api/v1/orders/{first.order.pk}/process-payment/",
            {"method": "credit_card", "card_number": CARD_NUMBER},
            format="json",
            HTTP_ORDER_TOKEN=token,
        ),
        202,
    )
    wait_until(lambda: Payment.objects.get(pk=paid["id"]).status == PaymentStatus.CAPTURED)

    store_password = found.add("gateway store password", secrets.token_urlsafe(12))
    with (
        sslcommerz_sandbox_run(store_password=store_password) as sandbox,
        override_settings(
            PAYMENTS_CARD_GATEWAY="sslcommerz",
            SSLCOMMERZ_API_URL=sandbox.url,
            SSLCOMMERZ_STORE_PASSWORD=store_password,
        ),
    ):
        second = order_place_for_test(lines=[(variant_make(price=12_50, stock=5), 2)])
        second_token = found.add("second order access token", second.access_token)
        started = _ok(
            _client().post(
                f"/api/v1/orders/{second.order.pk}/process-payment/",
                {"method": "credit_card"},
                format="json",
                HTTP_ORDER_TOKEN=second_token,
            ),
            202,
        )
        wait_until(lambda: sandbox.sessions, message="no gateway session opened")
        [sessionkey] = sandbox.sessions
        fields = sandbox.pay(sessionkey, "success", ipn=False)
        forged = _client().post(
            IPN_URL,
            urlencode({**fields, "verify_sign": "0" * 32}),
            content_type="application/x-www-form-urlencoded",
        )
        assert forged.status_code == 400, forged.content
        notice = _client().post(
            IPN_URL, urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
        assert notice.status_code == 200, notice.content
        wait_until(
            lambda: Payment.objects.get(pk=started["id"]).status == PaymentStatus.CAPTURED,
            message="the IPN was not validated",
        )


@pytest.mark.timeout(240)
def test_no_secret_handled_by_a_run_reaches_its_logs(log_file: Path) -> None:
    # given: secrets handled by every flow that takes one
    found = _Secrets()
    accounts = _accounts(found)
    _partner_activation(found, accounts["customer"])
    _payments(found)

    # when
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = log_file.read_text(encoding="utf-8")

    # then: the run was logged (requests refused, the worker's jobs and their arguments,
    # outgoing HTTP, the app's own warnings) ...
    loggers = set(re.findall(r'"name": "([^"]+)"', text))
    # httpx logs the worker's call-outs: the worker's jobs ran and were captured.
    assert {"django.request", "httpx", "tally.payments.webhooks"} <= loggers, sorted(loggers)
    # ... and no secret it handled is in what was written.
    assert len(found.values) >= 20
    assert found.leaks(text) == {}
