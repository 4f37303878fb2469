"""Offers in Django admin. The catalog is edited here through the same services as the API
(``offer_create`` / ``offer_update``: admins only, audited, cache retired); subscriptions and
activations are read-only (they change only through their use cases).

An activation's page shows its status history (the audit rows) and its provisioning job
(attempts, last error, state); a stuck one (pending or processing, its job not run) has a
**Retry provisioning now** button, and the list a **Retry** action, calling
``activation_retry``: the job is republished through the outbox, the path the sweeper takes,
so the claim, the provider's idempotency key and the once-only settle still hold. Admins
only, audited; a refusal is a message.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from tally.identity.models import User
from tally.offers import catalog, services
from tally.offers.live_status import IN_FLIGHT
from tally.offers.models import Activation, Offer, Subscription
from tally.platform.admin import ReadOnlyAdmin, audit_history_html, object_action_urls
from tally.platform.exceptions import DomainError
from tally.platform.money import from_minor
from tally.platform.outbox.models import OutboxMessage
from tally.platform.outbox.selectors import outbox_message_state

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


class StuckActivationFilter(admin.SimpleListFilter):
    """Activations pending or processing for longer than ``OUTBOX_REPUBLISH_AFTER_SECONDS``:
    a provider call takes seconds, so these are the ones to look at (and retry)."""

    title = "stuck"
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "in flight past the outbox's grace period")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "yes":
            return queryset
        cutoff = timezone.now() - timedelta(seconds=settings.OUTBOX_REPUBLISH_AFTER_SECONDS)
        return queryset.filter(status__in=IN_FLIGHT, created_at__lt=cutoff)


def _actor(request: HttpRequest) -> User:
    actor = request.user
    assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
    return actor


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
    list_filter = (StuckActivationFilter, "status", "source")
    search_fields = ("reference", "id", "partner_reference", "customer__phone")
    list_select_related = ("customer", "offer")
    actions = ("retry",)
    change_form_template = "admin/offers/activation/change_form.html"
    readonly_fields = ("price", "provisioning_jobs", "history")

    @admin.display(description="price")
    def price(self, activation: Activation) -> str:
        return f"{from_minor(activation.amount)} (reserved on the wallet, posted on success)"

    @admin.display(description="provisioning job")
    def provisioning_jobs(self, activation: Activation) -> SafeString | str:
        jobs = list(
            OutboxMessage.objects.filter(
                task_name=services.PROVISION_TASK, payload__activation_id=str(activation.pk)
            ).order_by("created_at")
        )
        if not jobs:
            return "None."
        return format_html_join(
            "",
            '<p><a href="{}">#{}</a>: {}, {} attempt(s){}</p>',
            (
                (
                    reverse("admin:platform_outboxmessage_change", args=[job.pk]),
                    job.pk,
                    outbox_message_state(message=job),
                    job.attempts,
                    f"; last error: {job.last_error}" if job.last_error else "",
                )
                for job in jobs
            ),
        )

    @admin.display(description="status history")
    def history(self, activation: Activation) -> SafeString | str:
        return audit_history_html(activation)

    def get_urls(self) -> list[URLPattern]:
        return [*object_action_urls(self, {"retry": self.retry_view}), *super().get_urls()]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        activation = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            "can_retry": (
                activation is not None
                and activation.status in IN_FLIGHT
                and self.has_action_permission(request)
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    def _retry(self, request: HttpRequest, activation: Activation) -> bool:
        try:
            accepted = services.activation_retry(actor=_actor(request), activation=activation)
        except DomainError as error:
            self.message_user(request, f"{activation.reference}: {error.detail}", messages.ERROR)
            return False
        if not accepted:
            self.message_user(
                request,
                f"{activation.reference}: the broker refused the job; the sweeper publishes it "
                "again.",
                messages.WARNING,
            )
            return False
        return True

    @method_decorator(require_POST)
    def retry_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_action_permission(request):
            raise PermissionDenied
        activation = self.get_object(request, unquote(object_id))
        if activation is None:
            raise Http404("No such activation.")
        if self._retry(request, activation):
            self.message_user(
                request,
                f"{activation.reference}: provisioning retried; a worker calls the provider "
                "(reload to see the outcome).",
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:offers_activation_change", args=[activation.pk]))

    @admin.action(description="Retry provisioning of selected activations", permissions=("action",))
    def retry(self, request: HttpRequest, queryset: QuerySet[Activation]) -> None:
        done = sum(self._retry(request, activation) for activation in queryset)
        if done:
            self.message_user(request, f"Retried {done} activation(s).", messages.SUCCESS)
