from __future__ import annotations

import uuid
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    VENDOR = "vendor", "Vendor"
    CUSTOMER = "customer", "Customer"
    PARTNER = "partner", "Partner"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        # Only for Django's own tooling (createsuperuser, tests); the API uses services.
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(role=Role.ADMIN, is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person or machine client that signs in with an email address."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored lower-cased; the Lower() constraint also guards rows written outside the services.
    email = models.EmailField(max_length=254, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    full_name = models.CharField(max_length=150, blank=True)
    # False blocks login entirely (a closed account); vendor selling rights are separate.
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="identity_user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in Role]),
                name="identity_user_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def is_vendor(self) -> bool:
        return self.role == Role.VENDOR

    @property
    def is_customer(self) -> bool:
        return self.role == Role.CUSTOMER

    @property
    def is_partner(self) -> bool:
        return self.role == Role.PARTNER


class VendorProfile(models.Model):
    """A business that holds prepaid credit. Only an admin sets ``is_active``."""

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, primary_key=True, related_name="vendor_profile"
    )
    business_name = models.CharField(max_length=200)
    address = models.CharField(max_length=500, blank=True)
    phone = models.CharField(max_length=20, blank=True, help_text="E.164")
    # Inactive vendors can log in but cannot sell, request credit or manage services.
    is_active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Minor units: a debit that takes the vendor's prepaid credit from at or above this to
    # below it sends one low-credit alert (docs/alerts.md). Null or 0: no alerts. Read on
    # the sale path from the profile already loaded with the caller, so it costs no query.
    low_credit_threshold = models.BigIntegerField(null=True, blank=True)
    # Where the low-credit alert is also POSTed, signed with ``alert_webhook_secret``
    # (HMAC-SHA256, as partners' callbacks); empty: email only.
    alert_webhook_url = models.URLField(max_length=500, blank=True)
    alert_webhook_secret = models.CharField(max_length=128, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(low_credit_threshold__gte=0)
                | models.Q(low_credit_threshold__isnull=True),
                name="vendor_low_credit_threshold_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.business_name


class CustomerProfile(models.Model):
    """An end customer with a wallet. One created by a vendor may have no password."""

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, primary_key=True, related_name="customer_profile"
    )
    phone = models.CharField(max_length=20, unique=True, help_text="E.164")
    created_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.phone


class PartnerProfile(models.Model):
    """A partner system that starts activations and receives signed callbacks."""

    user = models.OneToOneField(
        User, on_delete=models.PROTECT, primary_key=True, related_name="partner_profile"
    )
    name = models.CharField(max_length=200)
    callback_url = models.URLField(max_length=500, blank=True)
    # HMAC key for callbacks; shown to the partner once at creation.
    signing_secret = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class ApiKey(models.Model):
    """A machine client's credential. The secret is stored only as a SHA-256 digest."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # Public, unique lookup part of the key, shown in lists so a key can be recognised.
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
