"""``GET operations/{id}/``: the status of any registered kind of async operation."""

from __future__ import annotations

from uuid import UUID

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from tally.platform.api.views import ApiView
from tally.platform.operations.selectors import operation_get_for_actor
from tally.platform.operations.serializers import OperationOutputSerializer, operation_body


class OperationDetailApi(ApiView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(responses={200: OperationOutputSerializer}, tags=["operations"])
    def get(self, request: Request, operation_id: UUID) -> Response:
        operation = operation_get_for_actor(actor=request.user, operation_id=operation_id)
        return Response(operation_body(operation))
