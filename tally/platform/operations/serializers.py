"""The operation status resource's body, shared by ``operations/{id}/`` and each app's 202."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from tally.platform.operations.selectors import Operation


class OperationOutputSerializer(serializers.Serializer):
    """The fields every operation has; each kind adds its own (e.g. ``amount``)."""

    id = serializers.UUIDField()
    kind = serializers.CharField()
    status = serializers.CharField()
    failure_code = serializers.CharField()
    failure_detail = serializers.CharField()
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    links = serializers.DictField(child=serializers.CharField())


def operation_body(operation: Operation) -> dict[str, Any]:
    """The response body of an operation: the kind's own fields, then the common ones."""
    common = OperationOutputSerializer(operation).data
    return {**operation.details, **common}
