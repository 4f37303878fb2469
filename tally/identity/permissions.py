"""Role gates for views: who may call an endpoint at all (401/403 before any input is read).

They are not the access rules: which objects a caller may see is decided by the guarded
selectors (``tally.identity.selectors``), and an inactive vendor is refused by the services
(``vendor_require_active``), so a view cannot skip either by picking another class here.
"""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request


class IsAdmin(permissions.BasePermission):
    message = "Only admins can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)


class IsVendorOrPartner(permissions.BasePermission):
    message = "Only vendors and partners can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_vendor or user.is_partner))


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


class IsCustomer(permissions.BasePermission):
    message = "Only customers can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_customer)


class IsAdminOrCustomer(permissions.BasePermission):
    message = "Only admins and customers can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and (user.is_admin or user.is_customer))
