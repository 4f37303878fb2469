"""Contract checks against the published OpenAPI schema, for API tests."""

from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpResponse
from django.test import Client


@cache
def published_schema() -> dict[str, Any]:
    """The schema ``/api/schema/`` serves, built once per test run (it depends only on code)."""
    schema: dict[str, Any] = Client().get("/api/schema/?format=json").json()
    return schema


def assert_documented(response: HttpResponse, *, method: str, path: str) -> None:
    """``response``'s status, and its media type, are among those the published schema
    documents for ``method`` on ``path`` (the schema's path template, e.g.
    ``/api/v1/orders/{order_id}/``): what schemathesis checks, for one answer."""
    documented = published_schema()["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answers {status}, documents {sorted(documented)}"
    media_type = response["Content-Type"].split(";")[0].strip()
    documented_types = sorted(documented[status].get("content", {}))
    assert media_type in documented_types, (
        f"{method} {path} answers {status} as {media_type}, documents {documented_types}"
    )
