"""Top-up reads. Every permission-guarded lookup is one function, so each check is in one place.

Visibility of phone numbers: admins see every number; a vendor sees the numbers it
registered (``created_by``) and the numbers it sold charges to, whoever registered them.
Only whoever registered a number, or an admin, may change or delete it. Customers and
partners see none.
"""

from __future__ import annotations

from uuid import UUID

from django.db.models import Exists, OuterRef, Q, QuerySet

from tally.identity import selectors as identity_selectors
from tally.identity.models import User, VendorProfile
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.topups.models import ChargeSale, PhoneNumber


def vendor_get_for_seller(*, user: User, vendor_id: UUID) -> VendorProfile:
    """The vendor ``user`` sells charges as: only the vendor itself.

    Admins, customers and partners are refused (403); another vendor's or an unknown id is
    404, so a vendor learns nothing about other vendors. No query when the profile came
    with the user (API-key authentication loads it), else one.
    """
    if not user.is_vendor:
        raise PermissionDeniedError("Only the vendor itself sells charges.")
    vendor = identity_selectors.vendor_profile_of(user) if vendor_id == user.id else None
    if vendor is None:
        raise NotFoundError("No such vendor.")
    return vendor


def charge_sale_list_for_vendor(*, vendor: VendorProfile) -> QuerySet[ChargeSale]:
    """The vendor's sales with their numbers, newest first (index ``vendor, -created_at``).

    The caller has already checked access to ``vendor`` (``vendor_get_for_user``).
    """
    return (
        ChargeSale.objects.filter(vendor=vendor)
        .select_related("phone_number")
        .order_by("-created_at")
    )


def charge_sale_list_for_user(
    *, user: User, vendor_id: UUID | None = None, phone_number: str | None = None
) -> QuerySet[ChargeSale]:
    """Every vendor's sales, newest first, for admins only (403 for anyone else).

    ``vendor_id`` keeps one vendor's sales; ``phone_number`` (E.164) keeps the sales to that
    number. An unknown vendor or number just matches nothing.
    """
    if not user.is_admin:
        raise PermissionDeniedError("Only admins see every vendor's sales.")
    sales = ChargeSale.objects.select_related("phone_number").order_by("-created_at")
    if vendor_id is not None:
        sales = sales.filter(vendor_id=vendor_id)
    if phone_number is not None:
        sales = sales.filter(phone_number__number=phone_number)
    return sales


def phone_number_list_for_user(*, user: User) -> QuerySet[PhoneNumber]:
    """The numbers ``user`` may see (see the module docstring), newest first."""
    numbers = PhoneNumber.objects.order_by("-created_at")
    if user.is_admin:
        return numbers
    if user.is_vendor:
        sold_to = ChargeSale.objects.filter(phone_number_id=OuterRef("pk"), vendor_id=user.id)
        return numbers.filter(Q(created_by_id=user.id) | Exists(sold_to))
    raise PermissionDeniedError("Only admins and vendors see phone numbers.")


def phone_number_get_for_user(*, user: User, phone_number_id: UUID) -> PhoneNumber:
    """One number ``user`` may see; 404 when it does not exist or is not visible to them."""
    phone = phone_number_list_for_user(user=user).filter(pk=phone_number_id).first()
    if phone is None:
        raise NotFoundError("No such phone number.")
    return phone


def phone_number_get_for_change(*, user: User, phone_number_id: UUID) -> PhoneNumber:
    """One number ``user`` may update or delete: an admin any, a vendor those it registered.

    404 when ``user`` cannot see it at all; 403 when a vendor sees it (it sold to it) but
    another caller registered it.
    """
    phone = phone_number_get_for_user(user=user, phone_number_id=phone_number_id)
    if not user.is_admin and phone.created_by_id != user.id:
        raise PermissionDeniedError("Only whoever registered this number may change it.")
    return phone
