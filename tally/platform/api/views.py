"""The base view of every Tally endpoint: DRF's APIView plus idempotent unsafe requests and
rate-limit headers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from django.http import HttpResponseBase
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tally.platform.api_metrics import IDEMPOTENT_REPLAYS
from tally.platform.db import use_case_transaction
from tally.platform.idempotency import services as idempotency
from tally.platform.idempotency.exceptions import IdempotencyInProgressError
from tally.platform.ratelimit.throttles import rate_limit_headers

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass, _SupportsHasPermission

IN_PROGRESS_RETRY_AFTER_SECONDS = 1


class ApiView(APIView):
    # Top-level response fields never stored for replay (secrets shown once); replays show null.
    # A view that names any also answers ``Cache-Control: no-store``, so no browser, proxy or
    # shared cache keeps a copy of the secret.
    idempotency_redact: ClassVar[tuple[str, ...]] = ()
    # Route class for rate limits of unsafe methods ("money", "write", …); see RouteClassThrottle.
    rate_limit_class: ClassVar[str | None] = None
    # Permissions of the methods that differ from ``permission_classes``, e.g.
    # ``{"POST": (IsAdmin,)}`` on a list anyone signed in may read but only admins extend.
    method_permission_classes: ClassVar[dict[str, Sequence[_PermissionClass]]] = {}

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        classes = self.method_permission_classes.get(
            self.request.method or "", self.permission_classes
        )
        return [permission() for permission in classes]

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # DRF's dispatch, with the handler run through _handle (idempotency) instead of directly.
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            method = (request.method or "").lower()
            handler = (
                getattr(self, method, self.http_method_not_allowed)
                if method in self.http_method_names
                else self.http_method_not_allowed
            )
            response = self._handle(request, handler, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return self.response

    def _handle(
        self, request: Request, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Any:
        key = idempotency.idempotency_key_from(request)
        if key is None:
            return handler(request, *args, **kwargs)
        scope = idempotency.idempotency_scope(request)
        fingerprint = idempotency.request_fingerprint(request)
        # The lock comes first, then the lookup in a statement (a snapshot) of its own, so a
        # first request that committed before we got the lock is always seen and replayed.
        # The effect and the key record commit together; an error rolls both back, so a
        # failed attempt leaves nothing to replay and the client may retry with the key. The
        # handler's use case joins this transaction (tally.platform.db.use_case_transaction).
        with use_case_transaction():
            if not idempotency.idempotency_lock(scope=scope, key=key):
                raise IdempotencyInProgressError()
            replay = idempotency.idempotency_replay(scope=scope, key=key, fingerprint=fingerprint)
            if replay is not None:
                IDEMPOTENT_REPLAYS.inc()
                return replay
            response = handler(request, *args, **kwargs)
            if 200 <= response.status_code < 300:
                response = self.finalize_response(request, response, *args, **kwargs)
                if isinstance(response, Response):
                    response.render()
                idempotency.idempotency_store(
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                    request=request,
                    response=response,
                    redact=self.idempotency_redact,
                )
            return response

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)
        if isinstance(exc, IdempotencyInProgressError):
            response["Retry-After"] = str(IN_PROGRESS_RETRY_AFTER_SECONDS)
        return response

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in rate_limit_headers(request).items():
            response[name] = value
        if self.idempotency_redact:
            response["Cache-Control"] = "no-store"
        return response
