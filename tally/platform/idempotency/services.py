"""Idempotent unsafe requests (``Idempotency-Key``), as DESIGN.md specifies.

Same key and same request → the stored response again, with ``Idempotent-Replayed: true``.
Same key, different request → 422 ``idempotency_key_reused``. Same key while the first is
still running → 409 ``idempotency_in_progress`` with ``Retry-After``. The record commits in
the same transaction as the effect and expires after ``IDEMPOTENCY_TTL_SECONDS`` (24 h).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from tally.platform.db import require_transaction
from tally.platform.idempotency.exceptions import IdempotencyKeyReusedError
from tally.platform.idempotency.models import IdempotencyRecord

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Visible ASCII only, so keys are safe to store, log and compare.
_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# Response headers worth replaying; everything else is regenerated per response.
_STORED_HEADERS = ("Content-Type", "Location", "ETag")


def idempotency_key_from(request: Request) -> str | None:
    """The request's key, None when absent or the method is safe; 400 when malformed."""
    if request.method not in UNSAFE_METHODS:
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY_PATTERN.match(key):
        raise ValidationError({HEADER: ["Must be 1-255 visible ASCII characters."]})
    return key


def idempotency_scope(request: Request) -> str:
    user = request.user
    return f"user:{user.pk}" if user is not None and user.is_authenticated else "anonymous"


def request_fingerprint(request: Request) -> str:
    body = request._request.body  # raw bytes; DRF has not consumed the stream yet
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path(), ""):
        digest.update(part.encode() + b"\0")
    digest.update(canonical)
    return digest.hexdigest()


def idempotency_replay(*, scope: str, key: str, fingerprint: str) -> HttpResponse | None:
    """The stored response for (scope, key), None when there is none (or it expired).

    Raises IdempotencyKeyReusedError when the key was used for a different request.
    """
    record = IdempotencyRecord.objects.filter(
        scope=scope, key=key, expires_at__gt=timezone.now()
    ).first()
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    response = HttpResponse(bytes(record.response_body), status=record.response_status)
    for name, value in record.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_lock(*, scope: str, key: str) -> bool:
    """Try to take the transaction-scoped lock for (scope, key); False if another request holds it."""
    require_transaction()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [f"{scope}|{key}"]
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _redacted(body: bytes, fields: Iterable[str]) -> bytes:
    fields = tuple(fields)
    if not fields:
        return body
    try:
        data: Any = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict):
        for field in fields:
            if field in data:
                data[field] = None
    return json.dumps(data, separators=(",", ":")).encode()


def idempotency_store(
    *,
    scope: str,
    key: str,
    fingerprint: str,
    request: Request,
    response: HttpResponse,
    redact: Iterable[str] = (),
) -> IdempotencyRecord:
    """Record a successful outcome in the caller's transaction (the one that made the effect).

    ``redact`` names top-level body fields never stored (secrets shown only once); a replay
    shows them as null.
    """
    require_transaction()
    now = timezone.now()
    # An expired record may linger until the cleanup job runs; it no longer counts.
    IdempotencyRecord.objects.filter(scope=scope, key=key, expires_at__lte=now).delete()
    return IdempotencyRecord.objects.create(
        scope=scope,
        key=key,
        method=request.method or "",
        path=request.get_full_path()[:2000],
        fingerprint=fingerprint,
        response_status=response.status_code,
        response_body=_redacted(response.content, redact),
        response_headers={
            name: response[name] for name in _STORED_HEADERS if response.has_header(name)
        },
        expires_at=now + timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS),
    )


def idempotency_records_purge(*, batch_size: int = 5000) -> int:
    """Delete expired records in batches; returns how many were deleted."""
    deleted = 0
    while True:
        ids = list(
            IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).values_list(
                "id", flat=True
            )[:batch_size]
        )
        if not ids:
            return deleted
        deleted += IdempotencyRecord.objects.filter(id__in=ids).delete()[0]
