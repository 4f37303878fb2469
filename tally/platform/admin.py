"""The one base class for admin pages that show data but never write it through a form."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest


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
