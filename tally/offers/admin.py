"""Offers in Django admin. The catalog is edited here through the same services as the API
(``offer_create`` / ``offer_update``: admins only, audited, cache retired); subscriptions and
activations are read-only (they change only through their use cases)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from tally.identity.models import User
from tally.offers import catalog
from tally.offers.models import Activation, Offer, Subscription
from tally.platform.admin import ReadOnlyAdmin

_EDITABLE = (
    "name",
    "kind",
    "description",
    "price",
    "validity_days",
    "data_mb",
    "voice_minutes",
    "sms",
    "tv_channels",
    "is_active",
)


@admin.register(Offer)
class OfferAdmin(admin.ModelAdmin):
    """Add and change offers; saving calls the catalog services. Offers are never deleted
    (subscriptions and activations point at them): deactivate one instead."""

    list_display = ("name", "kind", "price", "currency", "validity_days", "is_active", "updated_at")
    list_filter = ("kind", "is_active", "currency")
    search_fields = ("name", "id")
    ordering = catalog.CATALOG_ORDERING
    fields = ("id", *_EDITABLE[:4], "currency", *_EDITABLE[4:], "created_at", "updated_at")
    show_full_result_count = False

    def get_readonly_fields(self, request: HttpRequest, obj: Offer | None = None) -> Any:
        # The currency is chosen once: subscriptions and activations were priced in it.
        fixed = ("id", "created_at", "updated_at")
        return (*fixed, "currency") if obj is not None else fixed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Offer, form: ModelForm, change: bool) -> None:
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
        values = {name: form.cleaned_data[name] for name in _EDITABLE if name in form.cleaned_data}
        if change:
            saved = catalog.offer_update(
                actor=actor,
                offer=obj,
                changes=catalog.OfferChanges(**values),  # type: ignore[typeddict-item]
            )
        else:
            saved = catalog.offer_create(
                actor=actor,
                draft=catalog.OfferDraft(currency=form.cleaned_data.get("currency"), **values),
            )
        # The admin's messages and redirect read the saved row.
        obj.pk = saved.pk
        obj.__dict__.update(
            {field.attname: getattr(saved, field.attname) for field in Offer._meta.concrete_fields}
        )


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("id", "customer", "offer", "status", "expires_at", "auto_renew", "created_at")
    list_filter = ("status", "auto_renew")
    search_fields = ("id", "customer__phone", "customer__user__email")
    list_select_related = ("customer", "offer")


@admin.register(Activation)
class ActivationAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "customer",
        "offer",
        "amount",
        "status",
        "source",
        "failure_code",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "source")
    search_fields = ("reference", "id", "partner_reference", "customer__phone")
    list_select_related = ("customer", "offer")
