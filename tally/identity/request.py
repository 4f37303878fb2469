"""Typed access to the authenticated caller for views."""

from __future__ import annotations

from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request

from tally.identity.models import User


def request_user(request: Request) -> User:
    """The signed-in user of a request whose view requires authentication."""
    user = request.user
    if not isinstance(user, User):
        raise NotAuthenticated()
    return user
