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
    except (ValueError, UnicodeDecodeError, RecursionError):
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method or "", request.get_full_path(), ""):
        digest.update(part.encode() + b"\0")
    digest.update(canonical)
    return digest.hexdigest()


_TABLE = IdempotencyRecord._meta.db_table
# Plain SQL: every unsafe request with a key runs these two, inside its transaction.
_REPLAY_SQL = f"""
    SELECT fingerprint, response_status, response_body, response_headers
      FROM {_TABLE}
     WHERE scope = %s AND key = %s AND expires_at > %s
"""  # noqa: S608  # nosec B608  # the table name comes from the model; values are parameters
# An expired record may linger until the cleanup job runs; it no longer counts, so a new
# outcome replaces it. A live one is never replaced (the caller holds the key's lock and
# found none).
_STORE_SQL = f"""
    INSERT INTO {_TABLE} AS r (scope, key, method, path, fingerprint, response_status,
                               response_body, response_headers, created_at, expires_at)
    VALUES (%(scope)s, %(key)s, %(method)s, %(path)s, %(fingerprint)s, %(status)s,
            %(body)s, %(headers)s::jsonb, %(now)s, %(expires_at)s)
    ON CONFLICT (scope, key) DO UPDATE
       SET method = excluded.method, path = excluded.path,
           fingerprint = excluded.fingerprint, response_status = excluded.response_status,
           response_body = excluded.response_body,
           response_headers = excluded.response_headers,
           created_at = excluded.created_at, expires_at = excluded.expires_at
     WHERE r.expires_at <= excluded.created_at
"""  # noqa: S608  # nosec B608  # the table name comes from the model; values are parameters


def idempotency_replay(*, scope: str, key: str, fingerprint: str) -> HttpResponse | None:
    """The stored response for (scope, key), None when there is none (or it expired).

    Raises IdempotencyKeyReusedError when the key was used for a different request.
    """
    with connection.cursor() as cursor:
        cursor.execute(_REPLAY_SQL, [scope, key, timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    stored_fingerprint, status, body, headers = row
    if stored_fingerprint != fingerprint:
        raise IdempotencyKeyReusedError()
    response = HttpResponse(bytes(body), status=status)
    for name, value in (json.loads(headers) if isinstance(headers, str) else headers).items():
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
) -> None:
    """Record a successful outcome in the caller's transaction (the one that made the effect).

    ``redact`` names top-level body fields never stored (secrets shown only once); a replay
    shows them as null.
    """
    require_transaction()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            {
                "scope": scope,
                "key": key,
                "method": request.method or "",
                "path": request.get_full_path()[:2000],
                "fingerprint": fingerprint,
                "status": response.status_code,
                "body": _redacted(response.content, redact),
                "headers": json.dumps(
                    {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
                ),
                "now": now,
                "expires_at": now + timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS),
            },
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
