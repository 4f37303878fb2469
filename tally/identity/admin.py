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
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from tally.identity import services
from tally.identity.models import ApiKey, CustomerProfile, PartnerProfile, User, VendorProfile
from tally.identity.throttles import LoginThrottle, login_attempt_hit
from tally.platform.admin import ReadOnlyAdmin, object_action_urls
from tally.platform.exceptions import DomainError

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
    """Vendors are created and edited through the API; activation is an action here.

    A vendor's page has **Activate** / **Deactivate** buttons (and the list has the same
    actions), calling ``vendor_activate`` / ``vendor_deactivate``: admins only, audited, and
    a refusal is a message on the page. It links to the vendor's ledger accounts (from there
    its entries and transfers) and credit requests by their admin URL names, so this app
    imports neither.
    """

    list_display = ("business_name", "user", "is_active", "activated_at", "created_at")
    list_filter = ("is_active",)
    search_fields = ("business_name", "user__email", "phone")
    actions = ("activate", "deactivate")
    change_form_template = "admin/identity/vendorprofile/change_form.html"
    readonly_fields = ("money_links",)
    fields = (
        "user",
        "business_name",
        "address",
        "phone",
        "is_active",
        "activated_at",
        "created_at",
        "money_links",
    )

    @admin.display(description="money")
    def money_links(self, vendor: VendorProfile) -> SafeString:
        return format_html(
            '<a href="{}?owner={}">Ledger accounts</a> · <a href="{}?vendor={}">Credit requests</a>',
            reverse("admin:ledger_account_changelist"),
            vendor.pk,
            reverse("admin:credit_creditrequest_changelist"),
            vendor.pk,
        )

    def _apply(self, request: HttpRequest, vendor: VendorProfile, activate: bool) -> bool:
        """Run the service for one vendor; a refusal becomes an error message."""
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
        service = services.vendor_activate if activate else services.vendor_deactivate
        try:
            service(actor=actor, vendor=vendor)
        except DomainError as error:
            self.message_user(request, f"{vendor}: {error.detail}", messages.ERROR)
            return False
        return True

    def _run(self, request: HttpRequest, queryset: QuerySet[VendorProfile], activate: bool) -> None:
        done = sum(self._apply(request, vendor, activate) for vendor in queryset)
        if done:
            verb = "Activated" if activate else "Deactivated"
            self.message_user(request, f"{verb} {done} vendor(s).", messages.SUCCESS)

    @admin.action(description="Activate selected vendors", permissions=("action",))
    def activate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        self._run(request, queryset, activate=True)

    @admin.action(description="Deactivate selected vendors", permissions=("action",))
    def deactivate(self, request: HttpRequest, queryset: QuerySet[VendorProfile]) -> None:
        self._run(request, queryset, activate=False)

    # --- the buttons on a vendor's page ---------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            *object_action_urls(
                self, {"activate": self.activate_view, "deactivate": self.deactivate_view}
            ),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {**(extra_context or {}), "can_activate": self.has_action_permission(request)}
        return super().change_view(request, object_id, form_url, context)

    def _button(self, request: HttpRequest, object_id: str, activate: bool) -> HttpResponse:
        if not self.has_action_permission(request):
            raise PermissionDenied
        vendor = self.get_object(request, unquote(object_id))
        if vendor is None:
            raise Http404("No such vendor.")
        if self._apply(request, vendor, activate):
            verb = "activated" if activate else "deactivated"
            self.message_user(request, f"{vendor} {verb}.", messages.SUCCESS)
        return HttpResponseRedirect(
            reverse("admin:identity_vendorprofile_change", args=[vendor.pk])
        )

    @method_decorator(require_POST)
    def activate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._button(request, object_id, activate=True)

    @method_decorator(require_POST)
    def deactivate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._button(request, object_id, activate=False)


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
