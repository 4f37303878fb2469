"""Credit requests in Django admin; approve/reject call the same services as the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tally.credit import services
from tally.credit.models import CreditRequest, CustomerCreditOperation
from tally.identity.models import User
from tally.platform.exceptions import DomainError


@admin.register(CreditRequest)
class CreditRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "vendor", "amount", "status", "created_at", "decided_by", "credited_at")
    list_filter = ("status",)
    search_fields = ("id", "vendor__business_name", "vendor__user__email")
    readonly_fields = [f.name for f in CreditRequest._meta.fields]
    actions = ("approve", "reject")

    def _run(self, request: HttpRequest, queryset: QuerySet[CreditRequest], approve: bool) -> None:
        actor = request.user
        assert isinstance(actor, User)
        done, refused = 0, 0
        for credit_request in queryset:
            try:
                if approve:
                    services.credit_request_approve(actor=actor, credit_request=credit_request)
                else:
                    services.credit_request_reject(actor=actor, credit_request=credit_request)
                done += 1
            except DomainError as error:
                refused += 1
                self.message_user(request, f"{credit_request.id}: {error.detail}", messages.WARNING)
        verb = "Approved (crediting asynchronously)" if approve else "Rejected"
        self.message_user(request, f"{verb}: {done}. Refused: {refused}.", messages.SUCCESS)

    @admin.action(description="Approve selected credit requests")
    def approve(self, request: HttpRequest, queryset: QuerySet[CreditRequest]) -> None:
        self._run(request, queryset, approve=True)

    @admin.action(description="Reject selected credit requests")
    def reject(self, request: HttpRequest, queryset: QuerySet[CreditRequest]) -> None:
        self._run(request, queryset, approve=False)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(CustomerCreditOperation)
class CustomerCreditOperationAdmin(admin.ModelAdmin):
    list_display = ("id", "vendor", "customer", "amount", "status", "failure_code", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "vendor__business_name", "customer__phone")
    readonly_fields = [f.name for f in CustomerCreditOperation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
