"""List envelopes: ``{"results", "next", "previous"}`` with keyset (cursor) pagination.

A cursor encodes the position in the ordering, so page N costs what page 1 costs.
"""

from __future__ import annotations

from base64 import b64encode
from functools import cache
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import pagination, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request: Request) -> pagination.Cursor | None:
        # A cursor the client mangled is bad input (400), not a missing resource (DRF: 404).
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from exc
        # DRF ignores unknown keys, reads any integer as "reverse" and caps the offset, so a
        # mangled cursor that still decodes would silently mean page 1: only a cursor this
        # paginator could have written (the same text, re-encoded) is one.
        if cursor is not None and _encoded(cursor) != request.query_params[self.cursor_query_param]:
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]})
        return cursor

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        # A cursor that decodes but whose position is no value of the ordering column (a
        # forged "p=not-a-date") fails in the query: bad input as well.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (DjangoValidationError, ValueError, TypeError, DataError) as exc:
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from exc


def _encoded(cursor: pagination.Cursor) -> str:
    """The cursor text DRF's ``encode_cursor`` writes for ``cursor``."""
    tokens: dict[str, str] = {}
    if cursor.offset != 0:
        tokens["o"] = str(cursor.offset)
    if cursor.reverse:
        tokens["r"] = "1"
    if cursor.position is not None:
        tokens["p"] = str(cursor.position)
    return b64encode(urlencode(tokens, doseq=True).encode("ascii")).decode("ascii")


CURSOR_PARAMETERS = [
    OpenApiParameter(
        "cursor", OpenApiTypes.STR, description="Opaque cursor from `next`/`previous`."
    ),
    OpenApiParameter("page_size", OpenApiTypes.INT, description="Items per page (1-200)."),
]


def paginate(
    *,
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.BaseSerializer],
    ordering: str = "-created_at",
) -> Response:
    """Render one cursor page of ``queryset`` in the standard list envelope."""
    paginator = CursorPagination()
    paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, request, view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)


@cache
def page_of(serializer_class: type[serializers.BaseSerializer]) -> type[serializers.Serializer]:
    """The OpenAPI shape of a page of ``serializer_class`` items."""
    outer, _, inner = serializer_class.__qualname__.rpartition(".")
    name = (outer.removesuffix("Api") + inner).removesuffix("Serializer") or inner
    return type(
        f"{name}Page",
        (serializers.Serializer,),
        {
            "__qualname__": f"{name}Page",
            "results": serializer_class(many=True),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
        },
    )
