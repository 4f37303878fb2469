from __future__ import annotations

import pytest
from django.test import Client, override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["detail"]
    assert body["type"] == f"urn:tally:problem:{code}"
    return body


def test_validation_error_lists_each_field(api_client: APIClient) -> None:
    body = assert_problem(
        api_client.post("/api/v1/auth/login/", {"email": "nope"}), 400, "validation_error"
    )
    fields = {error["field"]: error["code"] for error in body["errors"]}
    assert fields == {"email": "invalid", "password": "required"}


def test_malformed_json_is_problem(api_client: APIClient) -> None:
    response = api_client.generic(
        "POST", "/api/v1/auth/login/", "{not json", content_type="application/json"
    )
    assert_problem(response, 400, "malformed_request")


def test_unsupported_media_type_is_problem(api_client: APIClient) -> None:
    response = api_client.generic(
        "POST", "/api/v1/auth/login/", "email=x", content_type="text/plain"
    )
    assert_problem(response, 415, "unsupported_media_type")


def test_method_not_allowed_is_problem(api_client: APIClient) -> None:
    assert_problem(api_client.get("/api/v1/auth/login/"), 405, "method_not_allowed")


def test_not_acceptable_is_problem(api_client: APIClient) -> None:
    response = api_client.get("/api/v1/auth/me/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert response.json()["code"] == "not_acceptable"


def test_unknown_api_url_is_problem_not_html() -> None:
    assert_problem(Client().get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_problem(Client().get("/definitely/not/here"), 404, "not_found")


def test_null_byte_in_input_is_validation_error(api_client: APIClient) -> None:
    response = api_client.post("/api/v1/auth/login/", {"email": "a@b.com", "password": "x\x00y"})
    assert_problem(response, 400, "validation_error")


@override_settings(ROOT_URLCONF="tally.platform.tests.urls", DEBUG=False)
def test_unhandled_exception_in_api_is_generic_500_problem() -> None:
    response = APIClient().get("/boom/api/")
    body = assert_problem(response, 500, "internal_error")
    assert "secret" not in response.content.decode()
    assert body["instance"] == "/boom/api/"


@override_settings(ROOT_URLCONF="tally.platform.tests.urls", DEBUG=False)
def test_unhandled_exception_outside_drf_is_500_problem() -> None:
    response = Client(raise_request_exception=False).get("/boom/django/")
    assert_problem(response, 500, "internal_error")
    assert "secret" not in response.content.decode()


def test_request_id_is_echoed_or_generated(api_client: APIClient) -> None:
    echoed = api_client.get("/health/live", HTTP_X_REQUEST_ID="trace-abc-123")
    assert echoed["X-Request-ID"] == "trace-abc-123"
    generated = api_client.get("/health/live")
    assert len(generated["X-Request-ID"]) == 32


# --- hostile bodies and positions, on any endpoint ------------------------------------------


def test_a_list_items_errors_name_every_position_the_first_included() -> None:
    from tally.platform.api.errors import _flatten_errors

    errors = _flatten_errors({"items": {0: {"quantity": ["bad"]}, 1: {"quantity": ["bad"]}}})
    assert [error["field"] for error in errors] == ["items.0.quantity", "items.1.quantity"]


@pytest.mark.parametrize("idempotency_key", [None, "deep-json-1"])
def test_json_nested_too_deeply_is_a_400(
    api_client: APIClient, idempotency_key: str | None
) -> None:
    body = '{"email": ' + "[" * 100_000 + "]" * 100_000 + "}"
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    response = api_client.generic(
        "POST", "/api/v1/auth/login/", body, content_type="application/json", **headers
    )
    assert_problem(response, 400, "malformed_request")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_body_over_the_limit_with_an_idempotency_key_is_a_413(api_client: APIClient) -> None:
    body = '{"email": "' + "a" * 5_000 + '", "password": "x"}'
    response = api_client.generic(
        "POST",
        "/api/v1/auth/login/",
        body,
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="too-big-1",
    )
    assert_problem(response, 413, "request_too_large")


def test_a_forged_cursor_position_is_a_400(admin_client: APIClient) -> None:
    import base64

    forged = base64.b64encode(b"p=not-a-date").decode()
    response = admin_client.get(f"/api/v1/credit-requests/?cursor={forged}")
    body = assert_problem(response, 400, "validation_error")
    assert body["errors"][0]["field"] == "cursor"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_body_over_the_limit_without_an_idempotency_key_is_a_413_on_login(
    api_client: APIClient,
) -> None:
    body = '{"email": "' + "a" * 5_000 + '@example.com", "password": "x"}'
    response = api_client.generic(
        "POST", "/api/v1/auth/login/", body, content_type="application/json"
    )
    assert_problem(response, 413, "request_too_large")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_body_over_the_limit_without_an_idempotency_key_is_a_413_when_signed_in(
    admin_client: APIClient, vendor
) -> None:
    body = '{"amount": "1.00", "reason": "' + "a" * 5_000 + '"}'
    response = admin_client.generic(
        "POST", f"/api/v1/vendors/{vendor.pk}/credit/", body, content_type="application/json"
    )
    assert_problem(response, 413, "request_too_large")


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1_000)
def test_a_form_body_over_the_limit_outside_the_api_is_a_413() -> None:
    response = Client().post(
        "/admin/login/",
        "username=" + "a" * 5_000 + "&password=x",
        content_type="application/x-www-form-urlencoded",
    )
    assert_problem(response, 413, "request_too_large")


@pytest.mark.parametrize("path", ["/api/v1/credit-requests/", "/api/v1/vendors/"])
@pytest.mark.parametrize(
    "decoded",
    [
        b"x=1",
        b"zz=garbage&yy=1",
        b"o=abc",
        b"r=2",
        b"r=0",
        b"o=0",
        b"o=-1",
        b"o=5000",
        b"r=1&r=1",
        b"o=2&zz=1",
    ],
)
def test_a_mangled_cursor_that_still_decodes_is_a_400(
    admin_client: APIClient, path: str, decoded: bytes
) -> None:
    import base64

    cursor = base64.b64encode(decoded).decode()
    body = assert_problem(admin_client.get(path, {"cursor": cursor}), 400, "validation_error")
    assert [error["field"] for error in body["errors"]] == ["cursor"]


def test_a_cursor_the_api_wrote_still_pages_both_ways(admin_client: APIClient) -> None:
    from tally.identity.tests.factories import VendorFactory

    VendorFactory.create_batch(3)
    first = admin_client.get("/api/v1/vendors/", {"page_size": 1}).json()
    second = admin_client.get(first["next"]).json()
    assert second["results"]
    assert second["results"] != first["results"]
    back = admin_client.get(second["previous"])
    assert back.status_code == 200, back.content
    assert back.json()["results"] == first["results"]
