"""Identity writes: sign-up, vendors, customers, partners, API keys, sessions.

Each function is one use case with one transaction, and records an audit event for every
state change.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from tally.identity.exceptions import (
    EmailTakenError,
    FieldInvalidError,
    InvalidTokenError,
    PhoneTakenError,
    VendorInactiveError,
)
from tally.identity.models import ApiKey, CustomerProfile, PartnerProfile, Role, User, VendorProfile
from tally.platform.audit.services import audit_record
from tally.platform.db import use_case
from tally.platform.exceptions import NotFoundError, PermissionDeniedError

API_KEY_PREFIX_BYTES = 6
API_KEY_SECRET_BYTES = 32


def _check_password(password: str, *, email: str) -> None:
    try:
        validate_password(password, user=User(email=email))
    except DjangoValidationError as exc:
        raise FieldInvalidError(field="password", messages=exc.messages) from exc


def _create_user(*, email: str, password: str | None, role: Role, full_name: str = "") -> User:
    email = email.strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise EmailTakenError()
    user = User(email=email, role=role, full_name=full_name)
    if password:
        _check_password(password, email=email)
        user.set_password(password)
    else:
        user.set_unusable_password()
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent sign-up with the same email won the race
        raise EmailTakenError() from exc
    return user


def _create_customer_profile(*, user: User, phone: str, created_by: User | None) -> None:
    if CustomerProfile.objects.filter(phone=phone).exists():
        raise PhoneTakenError()
    try:
        with transaction.atomic():
            CustomerProfile.objects.create(user=user, phone=phone, created_by=created_by)
    except IntegrityError as exc:
        raise PhoneTakenError() from exc


# --- who may write -----------------------------------------------------------------------


def vendor_require_active(*, user: User) -> VendorProfile:
    """Return vendor ``user``'s profile, read now (not a copy cached on ``user``), or refuse:
    403 for anyone but a vendor, 422 ``vendor_inactive`` for a vendor an admin has not
    activated. Every vendor write calls this first, so an inactive vendor writes nothing.
    Locks nothing: a deactivation committing meanwhile does not undo a write that passed."""
    if not user.is_vendor:
        raise PermissionDeniedError("Only vendors can do this.")
    vendor = VendorProfile.objects.get(user=user)
    if not vendor.is_active:
        raise VendorInactiveError()
    return vendor


def actor_require_admin(*, actor: User) -> None:
    """Refuse anyone but an admin (403)."""
    if not actor.is_admin:
        raise PermissionDeniedError("Only admins can do this.")


def actor_require_admin_or_active_vendor(*, actor: User) -> None:
    """Refuse anyone but an admin or an active vendor: 403 for customers and partners, 422
    ``vendor_inactive`` for an inactive vendor. For writes both roles may make."""
    if actor.is_admin:
        return
    if not actor.is_vendor:
        raise PermissionDeniedError("Only admins and vendors can do this.")
    vendor_require_active(user=actor)


# --- use cases ---------------------------------------------------------------------------


@use_case
def user_register(
    *,
    email: str,
    password: str,
    role: Role,
    full_name: str = "",
    phone: str = "",
    business_name: str = "",
    address: str = "",
) -> User:
    """Self sign-up of a customer or a vendor. A vendor starts inactive until an admin acts."""
    if role not in (Role.CUSTOMER, Role.VENDOR):
        raise FieldInvalidError(field="role", messages=["Only customers and vendors can sign up."])
    user = _create_user(email=email, password=password, role=role, full_name=full_name)
    if role == Role.VENDOR:
        if not business_name:
            raise FieldInvalidError(
                field="business_name", messages=["This field is required for vendors."]
            )
        VendorProfile.objects.create(
            user=user, business_name=business_name, address=address, phone=phone, is_active=False
        )
    else:
        if not phone:
            raise FieldInvalidError(
                field="phone", messages=["This field is required for customers."]
            )
        _create_customer_profile(user=user, phone=phone, created_by=None)
    audit_record(actor=user, action="user.registered", target=user, changes={"role": [None, role]})
    return user


@use_case
def vendor_create(
    *,
    actor: User,
    email: str,
    password: str,
    business_name: str,
    address: str = "",
    phone: str = "",
    full_name: str = "",
) -> VendorProfile:
    """An admin creates a vendor (403 for anyone else); admin-created vendors start active.
    ``email_taken`` when the email is registered. Locks nothing; enqueues nothing. Audited."""
    actor_require_admin(actor=actor)
    user = _create_user(email=email, password=password, role=Role.VENDOR, full_name=full_name)
    vendor = VendorProfile.objects.create(
        user=user,
        business_name=business_name,
        address=address,
        phone=phone,
        is_active=True,
        activated_at=timezone.now(),
    )
    audit_record(
        actor=actor, action="vendor.created", target=vendor, changes={"is_active": [None, True]}
    )
    return vendor


VENDOR_EDITABLE_FIELDS = ("business_name", "address", "phone")


@use_case
def vendor_update(*, actor: User, vendor: VendorProfile, data: dict[str, Any]) -> VendorProfile:
    """Change a vendor's profile fields (never ``is_active``: that is activate/deactivate).

    For an admin or the vendor itself (403 otherwise); an inactive vendor may still complete
    its own profile. Locks nothing; enqueues nothing. Audited when something changed.
    """
    if not (actor.is_admin or actor.id == vendor.user_id):
        raise PermissionDeniedError("Only admins and the vendor itself change a vendor.")
    changes: dict[str, list[Any]] = {}
    for field in VENDOR_EDITABLE_FIELDS:
        if field in data and getattr(vendor, field) != data[field]:
            changes[field] = [getattr(vendor, field), data[field]]
            setattr(vendor, field, data[field])
    if "full_name" in data and vendor.user.full_name != data["full_name"]:
        changes["full_name"] = [vendor.user.full_name, data["full_name"]]
        vendor.user.full_name = data["full_name"]
        vendor.user.save(update_fields=["full_name"])
    if changes:
        vendor.save(update_fields=[f for f in changes if f != "full_name"] or None)
        audit_record(actor=actor, action="vendor.updated", target=vendor, changes=changes)
    return vendor


def _vendor_set_active(*, actor: User, vendor: VendorProfile, active: bool) -> VendorProfile:
    # Conditional update: two admins acting at once produce one transition and one audit row.
    updated = VendorProfile.objects.filter(pk=vendor.pk, is_active=not active).update(
        is_active=active, activated_at=timezone.now() if active else None
    )
    vendor.refresh_from_db()
    if updated:
        audit_record(
            actor=actor,
            action="vendor.activated" if active else "vendor.deactivated",
            target=vendor,
            changes={"is_active": [not active, active]},
        )
    return vendor


@use_case
def vendor_activate(*, actor: User, vendor: VendorProfile) -> VendorProfile:
    """An admin allows the vendor to sell, request credit and manage services (403 for
    anyone else). Idempotent: a conditional update, so concurrent activations make one
    transition and one audit event. Locks nothing else; enqueues nothing."""
    actor_require_admin(actor=actor)
    return _vendor_set_active(actor=actor, vendor=vendor, active=True)


@use_case
def vendor_deactivate(*, actor: User, vendor: VendorProfile) -> VendorProfile:
    """An admin stops the vendor writing anything (403 for anyone else); it can still log
    in and read its data. Idempotent, like ``vendor_activate``."""
    actor_require_admin(actor=actor)
    return _vendor_set_active(actor=actor, vendor=vendor, active=False)


@use_case
def vendor_close(*, actor: User, vendor: VendorProfile) -> None:
    """Close a vendor: deactivate it and disable its login and API keys.

    Nothing is deleted: the vendor's ledger history must stay readable for the books.
    For admins only (403 for anyone else).
    """
    actor_require_admin(actor=actor)
    _vendor_set_active(actor=actor, vendor=vendor, active=False)
    User.objects.filter(pk=vendor.user_id).update(is_active=False)
    ApiKey.objects.filter(user_id=vendor.user_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    audit_record(
        actor=actor,
        action="vendor.closed",
        target=vendor,
        changes={"user.is_active": [True, False]},
    )


@use_case
def customer_create(
    *, actor: User, email: str, phone: str, full_name: str = "", password: str | None = None
) -> CustomerProfile:
    """Create a customer for an admin or an active vendor (``created_by`` = ``actor``, who
    then sees its details); one created this way may have no password.

    Refuses customers and partners (403) and inactive vendors (422 ``vendor_inactive``), so
    nobody claims an email or number before its owner; ``email_taken`` / ``phone_taken``
    when registered already (the unique constraints decide under concurrency). Nothing is
    written on a refusal. Locks nothing beyond the new rows; enqueues nothing. Audited.
    """
    actor_require_admin_or_active_vendor(actor=actor)
    user = _create_user(email=email, password=password, role=Role.CUSTOMER, full_name=full_name)
    _create_customer_profile(user=user, phone=phone, created_by=actor)
    profile = CustomerProfile.objects.get(user=user)
    audit_record(actor=actor, action="customer.created", target=profile)
    return profile


@use_case
def partner_create(
    *, actor: User | None, email: str, password: str, name: str, callback_url: str = ""
) -> tuple[PartnerProfile, str]:
    """Create a partner; returns the profile and its callback signing secret (shown once)."""
    user = _create_user(email=email, password=password, role=Role.PARTNER, full_name=name)
    secret = secrets.token_urlsafe(32)
    partner = PartnerProfile.objects.create(
        user=user, name=name, callback_url=callback_url, signing_secret=secret
    )
    audit_record(actor=actor, action="partner.created", target=partner)
    return partner, secret


@use_case
def user_update_profile(*, user: User, data: dict[str, Any]) -> User:
    """Change the caller's own profile fields allowed for its role."""
    changes: dict[str, list[Any]] = {}
    if "full_name" in data and data["full_name"] != user.full_name:
        changes["full_name"] = [user.full_name, data["full_name"]]
        user.full_name = data["full_name"]
        user.save(update_fields=["full_name"])
    if user.is_vendor:
        vendor_data = {k: v for k, v in data.items() if k in VENDOR_EDITABLE_FIELDS}
        if vendor_data:
            vendor_update(actor=user, vendor=user.vendor_profile, data=vendor_data)
    elif user.is_customer and "phone" in data:
        profile = user.customer_profile
        if data["phone"] != profile.phone:
            if CustomerProfile.objects.filter(phone=data["phone"]).exclude(pk=profile.pk).exists():
                raise PhoneTakenError()
            changes["phone"] = [profile.phone, data["phone"]]
            profile.phone = data["phone"]
            try:
                with transaction.atomic():
                    profile.save(update_fields=["phone"])
            except IntegrityError as exc:  # a concurrent sign-up took the number meanwhile
                raise PhoneTakenError() from exc
    elif user.is_partner and "callback_url" in data:
        partner = user.partner_profile
        changes["callback_url"] = [partner.callback_url, data["callback_url"]]
        partner.callback_url = data["callback_url"]
        partner.save(update_fields=["callback_url"])
    if changes:
        audit_record(actor=user, action="user.profile_updated", target=user, changes=changes)
    return user


# --- API keys ---------------------------------------------------------------------------


def api_key_hash(secret: str) -> str:
    """SHA-256 of a key. Keys carry 256 random bits, so a slow password hash adds nothing
    but latency on every request."""
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_split(raw_key: str) -> tuple[str, str] | None:
    """``tly_<prefix>_<secret>`` -> (prefix, whole key); None when malformed."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != "tly" or not parts[1] or not parts[2]:
        return None
    return parts[1], raw_key


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    key: str


@use_case
def api_key_create(*, user: User, name: str) -> IssuedApiKey:
    """Issue an API key for a vendor or partner. The full key is returned only here."""
    if user.is_vendor:
        vendor_require_active(user=user)
    elif not user.is_partner:
        raise PermissionDeniedError("Only vendors and partners have API keys.")
    prefix = secrets.token_hex(API_KEY_PREFIX_BYTES)
    key = f"tly_{prefix}_{secrets.token_urlsafe(API_KEY_SECRET_BYTES)}"
    api_key = ApiKey.objects.create(user=user, name=name, prefix=prefix, key_hash=api_key_hash(key))
    audit_record(
        actor=user, action="api_key.created", target=api_key, changes={"name": [None, name]}
    )
    return IssuedApiKey(api_key=api_key, key=key)


@use_case
def api_key_revoke(*, user: User, api_key: ApiKey) -> ApiKey:
    """Revoke one of ``user``'s own keys at once; later requests with it are refused.
    Idempotent (a conditional update: one audit event however many revokes race). Another
    user's key is 404. Locks nothing; enqueues nothing."""
    if api_key.user_id != user.id:
        raise NotFoundError("No such API key.")
    if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    ):
        audit_record(actor=user, action="api_key.revoked", target=api_key)
    api_key.refresh_from_db()
    return api_key


API_KEY_LAST_USED_RESOLUTION_SECONDS = 60


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once a minute per key, so reads don't become writes."""
    now = timezone.now()
    last = api_key.last_used_at
    if last is None or (now - last).total_seconds() >= API_KEY_LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


# --- Sessions ---------------------------------------------------------------------------


def session_logout(*, refresh: str) -> None:
    """Blacklist a refresh token so it can be neither used nor rotated again."""
    try:
        RefreshToken(refresh).blacklist()  # type: ignore[arg-type]
    except TokenError as exc:
        raise InvalidTokenError() from exc
