"""Contract checks against the published OpenAPI schema, for API tests."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
from django.http import HttpResponse
from django.test import Client


@cache
def published_schema() -> dict[str, Any]:
    """The schema ``/api/schema/`` serves, built once per test run (it depends only on code)."""
    schema: dict[str, Any] = Client().get("/api/schema/?format=json").json()
    return schema


def _json_schema(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as JSON Schema: the value may also be null."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {name: _json_schema(value) for name, value in node.items()}
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def assert_documented(response: HttpResponse, *, method: str, path: str) -> None:
    """``response``'s status, its media type and its JSON body are what the published schema
    documents for ``method`` on ``path`` (the schema's path template, e.g.
    ``/api/v1/orders/{order_id}/``): schemathesis's conformance checks, for one answer."""
    schema = published_schema()
    documented = schema["paths"][path][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {path} answers {status}, documents {sorted(documented)}"
    media_type = response["Content-Type"].split(";")[0].strip()
    content = documented[status].get("content", {})
    assert media_type in content, (
        f"{method} {path} answers {status} as {media_type}, documents {sorted(content)}"
    )
    body_schema = content[media_type].get("schema")
    if body_schema is None or not response.content:
        return
    # The components ride along so that "#/components/..." references resolve in place.
    document = _json_schema({**body_schema, "components": schema["components"]})
    jsonschema.Draft202012Validator(document).validate(json.loads(response.content))
