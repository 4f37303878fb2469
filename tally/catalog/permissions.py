"""Role gates of the catalog's views (401/403 before any input is read).

They are not the access rules: which services a caller sees is decided by
``tally.catalog.selectors`` and who may change one by ``tally.catalog.services``
(``service_require_manager``: admins, or the owning vendor while it is active), so the
Django admin and the shell obey the same rules as the API.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from tally.catalog.models import Service, Variant
from tally.identity.models import User
from tally.identity.permissions import IsAdminOrVendor, IsVendor

__all__ = ["IsAdminOrVendor", "IsServiceOwner", "IsVendor"]


class IsServiceOwner(permissions.BasePermission):
    """Admins and vendors may ask; on an object, only an admin or the service's own vendor
    passes (another vendor's service is 403). Whether the vendor is active is checked by
    the services (422 ``vendor_inactive``)."""

    message = "This service belongs to another vendor."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_admin or user.is_vendor))

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        user = request.user
        if not isinstance(user, User):
            return False
        if user.is_admin:
            return True
        service = obj.service if isinstance(obj, Variant) else obj
        return isinstance(service, Service) and service.vendor_id == user.pk
