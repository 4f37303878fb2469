"""HTTP details shared by the order endpoints and those that act on orders (payments):
the caller, a guest's access token, and the order's version as ``ETag`` / ``If-Match``."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.request import Request

from tally.identity.models import User
from tally.orders.models import Order

# Where a guest sends its order's access token (names, not secrets).
TOKEN_HEADER = "Order-Token"  # noqa: S105  # nosec B105  # a header name, not a secret
TOKEN_QUERY_PARAMETER = "token"  # noqa: S105  # nosec B105  # a parameter name, not a secret
# A strong entity tag holding a version: "3". Weak tags (W/"3") never match an If-Match.
_ENTITY_TAG = re.compile(r'^"([1-9][0-9]{0,9})"$')

IF_MATCH_PARAMETER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description='The order\'s `ETag` as you read it, e.g. `"3"`: the change happens only if '
    "nobody changed the order since (else 409 `conflict`, nothing changed). `*`: any "
    "version. Weak tags are refused (400).",
)
TOKEN_PARAMETERS = [
    OpenApiParameter(
        TOKEN_QUERY_PARAMETER,
        OpenApiTypes.STR,
        description="A guest order's access token (from checkout or the order email).",
    ),
    OpenApiParameter(
        TOKEN_HEADER,
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        required=False,
        description="The same token in a header (kept out of URLs and logs); wins over `token`.",
    ),
]


def etag_header_for(status_code: int) -> OpenApiParameter:
    return OpenApiParameter(
        "ETag",
        OpenApiTypes.STR,
        location=OpenApiParameter.HEADER,
        response=[status_code],
        description='The order\'s version as a strong entity tag, e.g. `"3"`.',
    )


ETAG_HEADER = etag_header_for(200)


def request_caller(request: Request) -> User | None:
    """The signed-in caller, or None (anonymous: a guest)."""
    user = request.user
    return user if isinstance(user, User) and user.is_authenticated else None


def order_access_token(request: Request) -> str | None:
    """A guest's order access token: the ``Order-Token`` header, else ``?token=``."""
    return (
        request.headers.get(TOKEN_HEADER) or request.query_params.get(TOKEN_QUERY_PARAMETER) or None
    )


def if_match_version(request: Request) -> int | None:
    """The version an ``If-Match`` header expects; None without one or for ``*``."""
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    value = raw.strip()
    if value == "*":
        return None
    if value.startswith("W/"):
        raise serializers.ValidationError(
            {"If-Match": ['A weak entity tag never matches; send the ETag as given, e.g. "3".']}
        )
    match = _ENTITY_TAG.match(value)
    if match is None:
        raise serializers.ValidationError(
            {"If-Match": ['Send one entity tag as the ETag gave it, e.g. "3", or *.']}
        )
    return int(match.group(1))


def etag_of(order: Order) -> str:
    return f'"{order.version}"'
