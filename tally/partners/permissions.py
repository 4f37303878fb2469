"""Role gate of the partner endpoints (which activations a partner sees is decided by
``tally.partners.selectors``)."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class IsPartner(permissions.BasePermission):
    message = "Only partners can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_partner)
