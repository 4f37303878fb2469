"""Top-up reads. Every permission-guarded lookup is one function per object and actor, so
each access rule is in one place and views read guarded objects only through these.

Phone numbers: admins see every number; a vendor sees the numbers it registered
(``created_by``) and the numbers it sold charges to, whoever registered them. The label is
the registrant's note: a vendor that only sold to a number sees it empty (``visible_label``).
Only whoever registered a number, or an admin, may change or delete it (the services check).
Customers and partners see none.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db.models import Case, Exists, F, OuterRef, Q, QuerySet, Value, When

from tally.identity import selectors as identity_selectors
from tally.identity.models import User, VendorProfile
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.topups.models import ChargeSale, PhoneNumber


def vendor_get_for_seller(*, actor: User, vendor_id: UUID) -> VendorProfile:
    """The vendor ``actor`` sells charges as: only the vendor itself.

    Admins, customers and partners are refused (403); another vendor's or an unknown id is
    404, so a vendor learns nothing about other vendors. No query when the profile came
    with the user (API-key authentication loads it), else one. Whether the vendor is
    active is the sale's rule (``vendor_inactive``).
    """
    if not actor.is_vendor:
        raise PermissionDeniedError("Only the vendor itself sells charges.")
    vendor = identity_selectors.vendor_profile_of(actor) if vendor_id == actor.id else None
    if vendor is None:
        raise NotFoundError("No such vendor.")
    return vendor


def charge_sale_list_for_vendor(*, vendor: VendorProfile) -> QuerySet[ChargeSale]:
    """The vendor's sales with their numbers, newest first (index ``vendor, -created_at``).

    The caller has already checked access to ``vendor`` (``vendor_get_for_actor``).
    """
    return (
        ChargeSale.objects.filter(vendor=vendor)
        .select_related("phone_number")
        .order_by("-created_at")
    )


def charge_sale_list_for_actor(
    *, actor: User, vendor_id: UUID | None = None, phone_number: str | None = None
) -> QuerySet[ChargeSale]:
    """Every vendor's sales, newest first, for admins only (403 for anyone else).

    ``vendor_id`` keeps one vendor's sales; ``phone_number`` (E.164) keeps the sales to that
    number. An unknown vendor or number just matches nothing.
    """
    if not actor.is_admin:
        raise PermissionDeniedError("Only admins see every vendor's sales.")
    sales = ChargeSale.objects.select_related("phone_number").order_by("-created_at")
    if vendor_id is not None:
        sales = sales.filter(vendor_id=vendor_id)
    if phone_number is not None:
        sales = sales.filter(phone_number__number=phone_number)
    return sales


def phone_number_list_for_actor(*, actor: User) -> QuerySet[PhoneNumber]:
    """The numbers ``actor`` may see (see the module docstring), newest first, each with
    ``visible_label``: its label for an admin or its registrant, empty for anyone else."""
    numbers = PhoneNumber.objects.order_by("-created_at")
    if actor.is_admin:
        return numbers.annotate(visible_label=F("label"))
    if actor.is_vendor:
        own = Q(created_by_id=actor.id)
        sold_to = ChargeSale.objects.filter(phone_number_id=OuterRef("pk"), vendor_id=actor.id)
        visible_label: Any = Case(When(own, then=F("label")), default=Value(""))
        return numbers.filter(own | Exists(sold_to)).annotate(visible_label=visible_label)
    raise PermissionDeniedError("Only admins and vendors see phone numbers.")


def phone_number_get_for_actor(*, actor: User, phone_number_id: UUID) -> PhoneNumber:
    """One number ``actor`` may see, annotated like ``phone_number_list_for_actor``'s; 404
    when it does not exist or is not visible to them (the same answer, so it leaks nothing)."""
    phone_number = phone_number_list_for_actor(actor=actor).filter(pk=phone_number_id).first()
    if phone_number is None:
        raise NotFoundError("No such phone number.")
    return phone_number
