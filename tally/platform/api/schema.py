"""OpenAPI generation: every operation documents its problem+json error responses."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import permissions, serializers


class ProblemFieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField()
    code = serializers.CharField()
    detail = serializers.CharField()


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details with Tally's stable ``code``."""

    type = serializers.CharField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    code = serializers.CharField()
    detail = serializers.CharField()
    instance = serializers.CharField(required=False)
    # Named like Serializer.errors on purpose: this class only describes the wire format.
    errors = ProblemFieldErrorSerializer(many=True, required=False)  # type: ignore[assignment]


PROBLEM_MEDIA_TYPES = ["application/problem+json"]


def problem_responses(*codes: int) -> dict[tuple[int, str], type[ProblemSerializer]]:
    """Problem responses an operation gives beyond the ones ``AutoSchema`` infers from its
    method and path, e.g. 404 for an id named in a POST body; spread into
    ``extend_schema(responses={...})``."""
    return {(code, PROBLEM_MEDIA_TYPES[0]): ProblemSerializer for code in codes}


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Makes a retry safe: the same key and request within 24 h answers the first "
        "response again (`Idempotent-Replayed: true`) without repeating the effect. "
        "1-255 visible ASCII characters, e.g. a UUID."
    ),
)


class AutoSchema(SpectacularAutoSchema):
    def get_serializer_name(self, serializer: Any, direction: Any) -> str:
        """Name nested ``SomethingApi.InputSerializer`` classes ``SomethingInput``."""
        cls = serializer if isinstance(serializer, type) else type(serializer)
        parts = cls.__qualname__.split(".")
        if len(parts) >= 2:
            return parts[-2].removesuffix("Api") + parts[-1]
        return str(super().get_serializer_name(serializer, direction))

    def get_operation_id(self) -> str:
        """``…_list`` for GETs that answer a page, so lists and details never collide."""
        operation_id = str(super().get_operation_id())
        responses = self.get_response_serializers()
        page = responses.get(200) if isinstance(responses, dict) else responses
        page_class = page if isinstance(page, type) else type(page)
        if self.method == "GET" and page_class.__name__.endswith("Page"):
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def _is_public(self) -> bool:
        return any(
            isinstance(permission, permissions.AllowAny)
            for permission in self.view.get_permissions()
        )

    def _error_codes(self) -> list[str]:
        codes = ["400", "406", "429"]
        if not self._is_public() or self.method not in ("GET", "HEAD", "OPTIONS"):
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            codes += ["409", "422"]
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append("415")
        return codes

    def get_override_parameters(self) -> list[Any]:
        parameters: list[Any] = list(super().get_override_parameters())
        if self.method in ("POST", "PUT", "PATCH", "DELETE"):
            parameters.append(IDEMPOTENCY_KEY_PARAMETER)
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            responses.setdefault(
                code,
                self._get_response_for_code(
                    ProblemSerializer, code, PROBLEM_MEDIA_TYPES, direction
                ),
            )
        return responses
