"""Django admin for people and vendors. Actions call the same services as the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest

from tally.identity import services
from tally.identity.models import ApiKey, CustomerProfile, PartnerProfile, User, VendorProfile


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
class VendorProfileAdmin(admin.ModelAdmin):
    list_display = ("business_name", "user", "is_active", "activated_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("business_name", "user__email", "phone")
    readonly_fields = ("user", "is_active", "activated_at", "created_at")
    actions = ("activate", "deactivate")

    @admin.action(description="Activate selected vendors")
    def activate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        for vendor in queryset:
            services.vendor_activate(actor=request.user, vendor=vendor)  # type: ignore[arg-type]
        self.message_user(request, f"Activated {queryset.count()} vendor(s).", messages.SUCCESS)

    @admin.action(description="Deactivate selected vendors")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        for vendor in queryset:
            services.vendor_deactivate(actor=request.user, vendor=vendor)  # type: ignore[arg-type]
        self.message_user(request, f"Deactivated {queryset.count()} vendor(s).", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # vendors are created through the API (POST /api/v1/vendors/)


@admin.register(CustomerProfile)
class CustomerProfileAdmin(admin.ModelAdmin):
    list_display = ("phone", "user", "created_by", "created_at")
    search_fields = ("phone", "user__email")
    readonly_fields = ("user", "created_by", "created_at")


@admin.register(PartnerProfile)
class PartnerProfileAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "callback_url", "created_at")
    search_fields = ("name", "user__email")
    readonly_fields = ("user", "signing_secret", "created_at")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    search_fields = ("prefix", "name", "user__email")
    readonly_fields = (
        "id",
        "user",
        "name",
        "prefix",
        "key_hash",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
