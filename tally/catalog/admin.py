"""The catalog in Django admin. Services and their variants (inline) are added and changed
here through the same services as the API (``service_create`` / ``service_update`` /
``variant_create`` / ``variant_update``): audited, a new service only for an active vendor,
a stock change drops the variant's Redis counter. Nothing is ever deleted (order items
point at variants): deactivate instead."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.postgres.forms import SimpleArrayField
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from tally.catalog import services
from tally.catalog.models import MAX_IMAGES, Service, Variant
from tally.identity.models import User

_SERVICE_EDITABLE = ("title", "description", "category", "images", "is_active")
_VARIANT_EDITABLE = ("name", "sku", "price", "stock", "is_active")


def _actor(request: HttpRequest) -> User:
    actor = request.user
    assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
    return actor


def _copy_saved(obj: Any, saved: Any) -> None:
    """The admin's messages, redirect and inlines read the saved row."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj.__dict__.update(
        {
            field.attname: getattr(saved, field.attname)
            for field in type(saved)._meta.concrete_fields
            if field.attname in saved.__dict__
        }
    )


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    can_delete = False
    fields = ("id", "name", "sku", "price", "currency", "stock", "is_active", "updated_at")
    show_change_link = False

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The currency is chosen when a variant is added (orders were priced in it); the
        # inline cannot tell a new row from an existing one, so it is the deployment's
        # currency here and another one is set through the API.
        return ("id", "currency", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ServiceForm(forms.ModelForm):
    images = SimpleArrayField(
        forms.URLField(max_length=services.MAX_IMAGE_URL_LENGTH, assume_scheme="https"),
        max_length=MAX_IMAGES,
        required=False,
        help_text=f"Comma-separated http(s) URLs, at most {MAX_IMAGES}.",
    )

    def clean_vendor(self) -> Any:
        # Shown on the form rather than as an error page; service_create refuses it anyway.
        vendor = self.cleaned_data.get("vendor")
        if vendor is not None and not vendor.is_active:
            raise forms.ValidationError("Only an active vendor can sell a service.")
        return vendor


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    """Add and change services and their variants; saving calls the catalog services."""

    form = ServiceForm
    inlines = (VariantInline,)
    list_display = ("title", "vendor", "category", "is_active", "created_at", "updated_at")
    list_filter = ("is_active", "category")
    search_fields = ("title", "id", "vendor__business_name")
    list_select_related = ("vendor",)
    ordering = ("-created_at", "id")
    show_full_result_count = False
    fields = ("id", "vendor", *_SERVICE_EDITABLE, "created_at", "updated_at")
    raw_id_fields = ("vendor",)

    def get_readonly_fields(self, request: HttpRequest, obj: Service | None = None) -> Any:
        fixed = ("id", "created_at", "updated_at")
        # A service's vendor is chosen once.
        return (*fixed, "vendor") if obj is not None else fixed

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Service, form: ModelForm, change: bool) -> None:
        values = {
            name: form.cleaned_data[name] for name in _SERVICE_EDITABLE if name in form.cleaned_data
        }
        if change:
            saved = services.service_update(
                actor=_actor(request),
                service=obj,
                changes=services.ServiceChanges(**values),  # type: ignore[typeddict-item]
            )
        else:
            saved = services.service_create(
                actor=_actor(request),
                vendor=form.cleaned_data["vendor"],
                draft=services.ServiceDraft(**values),
            )
        _copy_saved(obj, saved)

    def save_formset(
        self, request: HttpRequest, form: ModelForm, formset: BaseInlineFormSet, change: bool
    ) -> None:
        if formset.model is not Variant:
            super().save_formset(request, form, formset, change)
            return
        service = form.instance
        # What the admin's change message (LogEntry) reads, as BaseModelFormSet.save sets it.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for variant_form in formset.forms:
            if not variant_form.has_changed() or not variant_form.cleaned_data:
                continue
            values = {
                name: variant_form.cleaned_data[name]
                for name in _VARIANT_EDITABLE
                if name in variant_form.cleaned_data
            }
            instance = variant_form.instance
            if instance.pk is not None and not instance._state.adding:
                saved = services.variant_update(
                    actor=_actor(request),
                    variant=instance,
                    changes=services.VariantChanges(**values),  # type: ignore[typeddict-item]
                )
                formset.changed_objects.append((instance, variant_form.changed_data))
            else:
                saved = services.variant_create(
                    actor=_actor(request), service=service, draft=services.VariantDraft(**values)
                )
                formset.new_objects.append(instance)
            _copy_saved(instance, saved)
