"""Django admin for people and vendors. Actions call the same services as the API.

Profiles and API keys are read-only here: they change through services (with their checks
and audit rows), so a form can neither store an unnormalised phone nor skip the audit.
Staff accounts and passwords stay editable through Django's user admin.

The admin's sign-in form counts each attempt against the API's sign-in limits (per client
address, and per address and email; see tally.identity.throttles), so the admin is not a way
around them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from tally.identity import services
from tally.identity.models import ApiKey, CustomerProfile, PartnerProfile, User, VendorProfile
from tally.identity.throttles import LoginThrottle, login_attempt_hit
from tally.platform.admin import ReadOnlyAdmin

logger = logging.getLogger(__name__)


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin sign-in form, refused before any password check once a limit is reached."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "rate_limited": "Too many sign-in attempts. Try again in %(seconds)s seconds.",
    }

    def clean(self) -> dict[str, Any]:
        if self.request is not None:
            # The API's notion of the client address (trusted proxies); it reads only META.
            address = str(LoginThrottle().get_ident(self.request))  # type: ignore[arg-type]
            email = str(self.cleaned_data.get("username") or "")
            decision = login_attempt_hit(address=address, email=email)
            if decision is not None and not decision.allowed:
                logger.warning(
                    "admin sign-in refused: too many attempts",
                    extra={"client_address": address, "email": email[:254].strip().lower()},
                )
                raise ValidationError(
                    self.error_messages["rate_limited"],
                    code="rate_limited",
                    params={"seconds": decision.reset_seconds},
                )
        return super().clean()


admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ("-date_joined",)
    list_display = ("email", "role", "full_name", "is_active", "is_staff", "date_joined")
    list_filter = ("role", "is_active", "is_staff")
    search_fields = ("email", "full_name")
    readonly_fields = ("id", "date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("role", "full_name")}),
        (
            "Access",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("date_joined", "last_login")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),
    )


@admin.register(VendorProfile)
class VendorProfileAdmin(ReadOnlyAdmin):
    """Vendors are created and edited through the API; activation is an action here."""

    list_display = ("business_name", "user", "is_active", "activated_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("business_name", "user__email", "phone")
    actions = ("activate", "deactivate")

    def _run(
        self,
        request: HttpRequest,
        queryset: QuerySet[VendorProfile],
        service: Callable[..., VendorProfile],
        verb: str,
    ) -> None:
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
        for vendor in queryset:
            service(actor=actor, vendor=vendor)
        self.message_user(request, f"{verb} {queryset.count()} vendor(s).", messages.SUCCESS)

    @admin.action(description="Activate selected vendors", permissions=("action",))
    def activate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        self._run(request, queryset, services.vendor_activate, "Activated")

    @admin.action(description="Deactivate selected vendors", permissions=("action",))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        self._run(request, queryset, services.vendor_deactivate, "Deactivated")


@admin.register(CustomerProfile)
class CustomerProfileAdmin(ReadOnlyAdmin):
    list_display = ("phone", "user", "created_by", "created_at")
    search_fields = ("phone", "user__email")
    list_select_related = ("user", "created_by")


@admin.register(PartnerProfile)
class PartnerProfileAdmin(ReadOnlyAdmin):
    list_display = ("name", "user", "callback_url", "created_at")
    search_fields = ("name", "user__email")
    # The signing secret is shown once, at creation; the page never displays it.
    exclude = ("signing_secret",)
    # Callback URLs typed without a scheme are https (Django 6's default, explicit now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys are issued and revoked through the API; deleting one here would erase its history."""

    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    search_fields = ("prefix", "name", "user__email")
    # The digest would let anyone who reads the page test guesses offline; the prefix names it.
    exclude = ("key_hash",)
    list_select_related = ("user",)
