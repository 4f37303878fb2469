from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from tally.identity import services


class IsAdmin(permissions.BasePermission):
    message = "Only admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class IsVendorOrPartner(permissions.BasePermission):
    message = "Only vendors and partners can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_vendor or user.is_partner))


class IsActiveVendor(permissions.BasePermission):
    """Vendor-only actions: refused with 422 ``vendor_inactive`` until an admin activates."""

    message = "Only vendors can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_vendor):
            return False
        services.vendor_require_active(user=user)
        return True


class IsVendor(permissions.BasePermission):
    """Any vendor; services refuse inactive vendors with ``vendor_inactive`` where it matters."""

    message = "Only vendors can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_vendor)


class IsAdminOrVendor(permissions.BasePermission):
    message = "Only admins and vendors can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_admin or user.is_vendor))
