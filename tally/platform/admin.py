"""The one base class for admin pages that show data but never write it through a form, and
the platform's own pages: the outbox's jobs (with **Retry**) and the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import URLPattern, path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from tally.platform.audit.models import AuditEvent
from tally.platform.exceptions import DomainError
from tally.platform.outbox import selectors as outbox_selectors
from tally.platform.outbox.models import OutboxMessage
from tally.platform.outbox.services import outbox_message_retry


def object_action_urls(model_admin: admin.ModelAdmin, views: dict[str, Any]) -> list[URLPattern]:
    """``<object_id>/<name>/`` for each of an admin's object buttons (name → view), each
    behind the admin site's login and CSRF checks and named ``<app>_<model>_<name>``;
    put them before ``super().get_urls()``, whose catch-all would take them otherwise."""
    info = (model_admin.opts.app_label, model_admin.opts.model_name)
    return [
        path(
            f"<path:object_id>/{name}/",
            model_admin.admin_site.admin_view(view),
            name="{}_{}_{}".format(*info, name),
        )
        for name, view in views.items()
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and detail pages only: no add, change or delete, not even for superusers.

    Writes happen through services, which check their rules and write their audit rows. A
    page that needs a write offers an admin action calling that service, declared with
    ``permissions=("action",)`` so only staff holding the model's change permission see it
    (the change permission itself stays off, so the change form never saves).
    """

    # Exact counts of large tables are slow; the pages do not need them.
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_action_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run this page's service-backed actions: the change permission."""
        opts = self.opts
        codename = f"{opts.app_label}.change_{opts.model_name}"
        return request.user.has_perm(codename)


# --- the platform's own pages: the outbox and its jobs, the audit log ---------------------------


class OutboxStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", "pending (within the grace period)"),
            ("stuck", "stuck (the sweeper's next republish)"),
            ("waiting", "claimed or backing off"),
            ("failed", "failed (gave up)"),
            ("processed", "processed"),
            ("unprocessed", "not processed yet (all)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value == "unprocessed":
            return queryset.filter(processed_at__isnull=True)
        if value in outbox_selectors.OUTBOX_STATES:
            return queryset.filter(outbox_selectors.outbox_state_filter(state=value))  # type: ignore[arg-type]
        return queryset


class CallOutFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("callout", "call-out jobs (claimed at least once)"), ("plain", "other jobs")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "callout":
            return queryset.filter(attempts__gt=0)
        if self.value() == "plain":
            return queryset.filter(attempts=0)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    """Every job, newest first, with its state; **Retry** republishes jobs that have not run
    (``outbox_message_retry``: admins only, audited; a job that ran or gave up is refused,
    so nothing runs twice). Read-only otherwise."""

    list_display = (
        "id",
        "task_name",
        "state",
        "created_at",
        "published_at",
        "publish_attempts",
        "attempts",
        "next_attempt_at",
        "processed_at",
        "short_error",
    )
    # No filter by task name: listing its choices would scan the whole table; search instead.
    list_filter = (OutboxStateFilter, CallOutFilter)
    search_fields = ("=id", "task_name")
    ordering = ("-created_at",)
    actions = ("retry",)

    @admin.display(description="state")
    def state(self, message: OutboxMessage) -> str:
        return outbox_selectors.outbox_message_state(message=message)

    @admin.display(description="last error")
    def short_error(self, message: OutboxMessage) -> str:
        return message.last_error[:120]

    @admin.action(
        description="Retry selected jobs now (those not run yet)", permissions=("action",)
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxMessage]) -> None:
        published, refused = 0, 0
        for message_id in queryset.values_list("id", flat=True):
            try:
                accepted = outbox_message_retry(actor=request.user, message_id=message_id)
            except DomainError as error:
                refused += 1
                self.message_user(request, f"#{message_id}: {error.detail}", messages.WARNING)
                continue
            if accepted:
                published += 1
            else:
                self.message_user(
                    request,
                    f"#{message_id}: the broker refused it; the sweeper publishes it again.",
                    messages.WARNING,
                )
        self.message_user(
            request,
            f"Republished: {published}. Refused: {refused}.",
            messages.SUCCESS if published else messages.INFO,
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """The audit log: who changed what, when, from which value to which."""

    list_display = ("created_at", "action", "actor", "target_type", "target_id", "changes")
    # No filters: listing their choices would scan the whole log; search by record or action.
    search_fields = ("=target_id", "=action", "=target_type", "actor__email")
    list_select_related = ("actor",)
    ordering = ("-id",)


def audit_history_html(target: models.Model) -> SafeString | str:
    """The audit rows of one record, oldest first, as a table (its status history: who,
    when, which action, old → new), for a page's read-only field."""
    events = list(
        AuditEvent.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
        .select_related("actor")
        .order_by("id")
    )
    if not events:
        return "No change recorded."
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                event.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                event.action,
                event.actor or "system",
                "; ".join(
                    f"{field}: {change[0]} → {change[1]}"
                    if isinstance(change, list) and len(change) == 2
                    else f"{field}: {change}"
                    for field, change in event.changes.items()
                ),
            )
            for event in events
        ),
    )
    return format_html(
        '<table class="audit-history"><thead><tr><th>when</th><th>action</th><th>by</th>'
        "<th>changes</th></tr></thead><tbody>{}</tbody></table>",
        rows,
    )
