from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_live_and_ready_report_ok() -> None:
    assert Client().get("/health/live").json() == {"status": "ok"}
    ready = Client().get("/health/ready")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert {name: check["status"] for name, check in checks.items()} == {
        "database": "ok",
        "redis": "ok",
        "broker": "ok",
    }


def test_ready_is_503_and_names_the_broker_when_it_is_down() -> None:
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        ready = Client().get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"]["status"] == "error"
    assert ready.json()["checks"]["database"]["status"] == "ok"


def test_metrics_are_exposed_in_prometheus_format() -> None:
    Client().get("/health/live")
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert b"django_http_requests_total_by_method_total" in response.content


def test_openapi_schema_validates_without_warnings() -> None:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi: 3" in out.getvalue()


def test_every_operation_documents_problem_responses() -> None:
    schema = Client().get("/api/schema/?format=json").json()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "400" in operation["responses"], (method, path)
            assert "application/problem+json" in operation["responses"]["400"]["content"]


def test_docs_and_admin_pages_render() -> None:
    assert Client().get("/api/docs/").status_code == 200
    assert Client().get("/api/redoc/").status_code == 200
    assert Client().get("/admin/login/").status_code == 200
