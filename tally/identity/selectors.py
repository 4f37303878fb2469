"""Identity reads. Every permission-guarded lookup is one function, so each check is in one place."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from tally.identity.models import ApiKey, CustomerProfile, User, VendorProfile
from tally.platform.exceptions import NotFoundError, PermissionDeniedError


def vendor_list_for_user(*, user: User) -> QuerySet[VendorProfile]:
    """Admins see every vendor; a vendor sees itself; others see none."""
    vendors = VendorProfile.objects.select_related("user")
    if user.is_admin:
        return vendors.all()
    if user.is_vendor:
        return vendors.filter(user=user)
    raise PermissionDeniedError()


def vendor_get_for_user(*, user: User, vendor_id: UUID) -> VendorProfile:
    """One vendor, visible to admins and to the vendor itself; 404 for anyone else's."""
    if not (user.is_admin or user.is_vendor):
        raise PermissionDeniedError()
    vendor = VendorProfile.objects.select_related("user").filter(user_id=vendor_id).first()
    if vendor is None or (not user.is_admin and vendor.user_id != user.id):
        raise NotFoundError("No such vendor.")
    return vendor


def api_key_list_for_user(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at")


def api_key_get_for_user(*, user: User, api_key_id: UUID) -> ApiKey:
    api_key = ApiKey.objects.filter(user=user, pk=api_key_id).first()
    if api_key is None:
        raise NotFoundError("No such API key.")
    return api_key


def api_key_get_by_prefix(*, prefix: str) -> ApiKey | None:
    return ApiKey.objects.select_related("user").filter(prefix=prefix).first()


def customer_list_for_user(*, user: User, phone: str | None = None) -> QuerySet[CustomerProfile]:
    """Admins list every customer; a vendor lists the customers it created. With ``phone``
    (exact E.164), both find that one customer wherever it came from: knowing the number
    is what lets a vendor serve a customer who signed up on their own."""
    customers = CustomerProfile.objects.select_related("user")
    if phone:
        return customers.filter(phone=phone)
    if user.is_admin:
        return customers.all()
    if user.is_vendor:
        return customers.filter(created_by=user)
    raise PermissionDeniedError()


def customer_get_by_id(*, customer_id: UUID) -> CustomerProfile | None:
    return CustomerProfile.objects.select_related("user").filter(user_id=customer_id).first()
