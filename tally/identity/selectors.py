"""Identity reads. Every permission-guarded lookup is one function, so each check is in one place."""

from __future__ import annotations

from uuid import UUID

from django.db import connection
from django.db.models import Model, QuerySet

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
    if user.is_vendor:
        # A vendor only ever sees itself: its profile came with its API key when it did.
        vendor = vendor_profile_of(user) if vendor_id == user.id else None
        if vendor is None:
            raise NotFoundError("No such vendor.")
        return vendor
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


def vendor_profile_of(user: User) -> VendorProfile | None:
    """``user``'s vendor profile: the one loaded with it when there is one (no query), else
    read now. The returned profile's ``user`` is ``user``."""
    try:
        vendor: VendorProfile = user.vendor_profile
    except VendorProfile.DoesNotExist:
        return None
    vendor.user = user
    return vendor


def _columns(model: type[Model], alias: str) -> tuple[str, list[str]]:
    fields = model._meta.concrete_fields
    return ", ".join(f'{alias}."{f.column}"' for f in fields), [f.attname for f in fields]


_KEY_SQL, _KEY_FIELDS = _columns(ApiKey, "k")
_USER_SQL, _USER_FIELDS = _columns(User, "u")
_VENDOR_SQL, _VENDOR_FIELDS = _columns(VendorProfile, "v")
# Every API-key request runs this, so it is one plain statement that brings the key, its
# user and the user's vendor profile (when the user is a vendor) together.
_API_KEY_BY_PREFIX_SQL = f"""
    SELECT {_KEY_SQL}, {_USER_SQL}, {_VENDOR_SQL}
      FROM {ApiKey._meta.db_table} AS k
      JOIN {User._meta.db_table} AS u ON u.id = k.user_id
      LEFT JOIN {VendorProfile._meta.db_table} AS v ON v.user_id = u.id
     WHERE k.prefix = %s
"""  # noqa: S608 -- table and column names from the models, the value is a parameter


def api_key_get_by_prefix(*, prefix: str) -> ApiKey | None:
    """The key with ``prefix``, its ``user`` and, for a vendor, ``user.vendor_profile``
    loaded: one query."""
    with connection.cursor() as cursor:
        cursor.execute(_API_KEY_BY_PREFIX_SQL, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    n_key, n_user = len(_KEY_FIELDS), len(_USER_FIELDS)
    api_key = ApiKey.from_db(connection.alias, _KEY_FIELDS, row[:n_key])
    user = User.from_db(connection.alias, _USER_FIELDS, row[n_key : n_key + n_user])
    vendor_row = row[n_key + n_user :]
    vendor = (
        None
        if vendor_row[0] is None
        else VendorProfile.from_db(connection.alias, _VENDOR_FIELDS, vendor_row)
    )
    if vendor is not None:
        vendor.user = user
    # What select_related would have cached: later reads of these relations cost no query.
    user._state.fields_cache["vendor_profile"] = vendor
    api_key.user = user
    return api_key


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
