"""Identity reads. Every permission-guarded lookup is one function per object and actor
(``entity_get_for_actor`` / ``entity_list_for_actor``), so each access rule is in one place
and a new endpoint cannot forget it: views read guarded objects only through these.

Who sees what:

- vendors: an admin sees every vendor; a vendor sees itself; customers and partners none.
- customers: a customer's details (email, full name, phone, profile) are visible to admins
  and to the vendor that created it. Another *active* vendor may find any customer by exact
  E.164 phone number, to fund its wallet, and then sees only its ``id`` and a masked name
  (``details_visible`` is false); it cannot read the customer by id (404, as if it did not
  exist). Customers and partners see none.
- API keys: vendors and partners see their own keys only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    F,
    Func,
    Model,
    Q,
    QuerySet,
    Value,
    When,
)

from tally.identity.models import ApiKey, CustomerProfile, User, VendorProfile
from tally.platform.exceptions import NotFoundError, PermissionDeniedError

# --- vendors ----------------------------------------------------------------------------


def vendor_list_for_actor(*, actor: User) -> QuerySet[VendorProfile]:
    """Admins see every vendor; a vendor sees itself; anyone else is refused (403)."""
    vendors = VendorProfile.objects.select_related("user")
    if actor.is_admin:
        return vendors.all()
    if actor.is_vendor:
        return vendors.filter(user=actor)
    raise PermissionDeniedError("Only admins and vendors see vendors.")


def vendor_get_for_actor(*, actor: User, vendor_id: UUID) -> VendorProfile:
    """One vendor, for an admin or the vendor itself.

    Another vendor's id, or an unknown one, is 404 (a vendor learns nothing about other
    vendors); customers and partners are refused (403). No query when a vendor reads itself
    and its profile came with the user (API-key authentication loads it), else one.
    """
    if actor.is_vendor:
        vendor = vendor_profile_of(actor) if vendor_id == actor.id else None
    elif actor.is_admin:
        vendor = VendorProfile.objects.select_related("user").filter(user_id=vendor_id).first()
    else:
        raise PermissionDeniedError("Only admins and vendors see vendors.")
    if vendor is None:
        raise NotFoundError("No such vendor.")
    return vendor


def vendor_profile_of(user: User) -> VendorProfile | None:
    """``user``'s vendor profile: the one loaded with it when there is one (no query), else
    read now. The returned profile's ``user`` is ``user``. Not guarded: for callers that
    act as ``user`` itself."""
    try:
        vendor: VendorProfile = user.vendor_profile
    except VendorProfile.DoesNotExist:
        return None
    vendor.user = user
    return vendor


# --- customers --------------------------------------------------------------------------

# "Ada Lovelace" -> "A*** L***": the first character of each word, enough for a vendor to
# confirm with the person in front of it that the number it typed is theirs.
_MASKED_NAME = Func(
    F("user__full_name"),
    Value(r"(\S)\S*"),
    Value(r"\1***"),
    Value("g"),
    function="regexp_replace",
    output_field=CharField(),
)


def _customers_annotated(*, details_visible: Q | bool) -> QuerySet[CustomerProfile]:
    # A CASE, not the bare comparison: ``created_by_id = …`` is NULL, not false, for a
    # customer who signed up on their own.
    visible: Any = (
        Value(details_visible)
        if isinstance(details_visible, bool)
        else Case(When(details_visible, then=True), default=False, output_field=BooleanField())
    )
    return CustomerProfile.objects.select_related("user").annotate(
        details_visible=visible, masked_name=_MASKED_NAME
    )


def customer_list_for_actor(*, actor: User, phone: str | None = None) -> QuerySet[CustomerProfile]:
    """The customers ``actor`` may list, each annotated with ``details_visible`` (may the
    actor see its email, full name, phone and profile?) and ``masked_name``.

    Admins list every customer, with details. A vendor lists the customers it created, with
    details. With ``phone`` (exact E.164) the list narrows to that one number's customer;
    an active vendor also finds a customer it did not create that way, without details
    (``details_visible`` false), which is what funding a customer's wallet needs; an
    inactive vendor, which cannot fund anyone, finds only its own. Customers and partners
    are refused (403).
    """
    if actor.is_admin:
        customers = _customers_annotated(details_visible=True)
    elif actor.is_vendor:
        own = Q(created_by_id=actor.id)
        customers = _customers_annotated(details_visible=own)
        vendor = vendor_profile_of(actor)
        if not (phone and vendor is not None and vendor.is_active):
            customers = customers.filter(own)
    else:
        raise PermissionDeniedError("Only admins and vendors see customers.")
    if phone:
        customers = customers.filter(phone=phone)
    return customers


def customer_get_for_actor(*, actor: User, customer_id: UUID) -> CustomerProfile:
    """One customer with its details, for an admin or the vendor that created it
    (annotated like ``customer_list_for_actor``'s rows, ``details_visible`` true).

    Any other vendor gets 404, exactly as for an unknown id, so the answer does not tell
    whether the customer exists; customers and partners are refused (403).
    """
    if actor.is_admin:
        customers = _customers_annotated(details_visible=True)
    elif actor.is_vendor:
        customers = _customers_annotated(details_visible=True).filter(created_by=actor)
    else:
        raise PermissionDeniedError("Only admins and vendors see customers.")
    customer = customers.filter(user_id=customer_id).first()
    if customer is None:
        raise NotFoundError("No such customer.")
    return customer


def customer_get_for_funding(*, actor: User, customer_id: UUID) -> CustomerProfile:
    """The customer whose wallet vendor ``actor`` funds (``POST customers/{id}/credit/``).

    Any vendor may fund any customer whose id it has (found by phone number), so any
    existing customer is returned; 404 for an unknown id; admins, customers and partners
    are refused (403). The caller must not render the customer's details from it: the
    funding vendor may see only what ``customer_list_for_actor`` shows it. Whether the
    vendor is active is the funding service's rule (``vendor_inactive``), not a read rule.
    """
    if not actor.is_vendor:
        raise PermissionDeniedError("Only vendors fund customers' wallets.")
    customer = CustomerProfile.objects.select_related("user").filter(user_id=customer_id).first()
    if customer is None:
        raise NotFoundError("No such customer.")
    return customer


# --- API keys ---------------------------------------------------------------------------


def _api_key_owner_check(actor: User) -> None:
    if not (actor.is_vendor or actor.is_partner):
        raise PermissionDeniedError("Only vendors and partners have API keys.")


def api_key_list_for_actor(*, actor: User) -> QuerySet[ApiKey]:
    """The keys of a vendor or partner ``actor``, its own only, newest first (403 for
    other roles)."""
    _api_key_owner_check(actor)
    return ApiKey.objects.filter(user=actor).order_by("-created_at")


def api_key_get_for_actor(*, actor: User, api_key_id: UUID) -> ApiKey:
    """One of ``actor``'s own keys; anyone else's or an unknown id is 404."""
    _api_key_owner_check(actor)
    api_key = ApiKey.objects.filter(user=actor, pk=api_key_id).first()
    if api_key is None:
        raise NotFoundError("No such API key.")
    return api_key


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
"""  # noqa: S608  # nosec B608  # table and column names from the models; values are parameters


def api_key_get_by_prefix(*, prefix: str) -> ApiKey | None:
    """The key with ``prefix``, its ``user`` and, for a vendor, ``user.vendor_profile``
    loaded: one query. Not guarded: authentication is what finds the caller."""
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


# --- deprecated names, kept only until tally/credit/apis.py calls the new ones ----------
