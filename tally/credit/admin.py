"""Credit requests in Django admin; approve/reject call the same services as the API."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tally.credit import services
from tally.credit.models import CreditRequest, CustomerCreditOperation
from tally.identity.models import User
from tally.platform.admin import ReadOnlyAdmin
from tally.platform.exceptions import DomainError


@admin.register(CreditRequest)
class CreditRequestAdmin(ReadOnlyAdmin):
    """Requests are decided only through the approve/reject actions, which call the services."""

    list_display = ("id", "vendor", "amount", "status", "created_at", "decided_by", "credited_at")
    list_filter = ("status",)
    search_fields = ("id", "vendor__business_name", "vendor__user__email")
    actions = ("approve", "reject")

    def _run(self, request: HttpRequest, queryset: QuerySet[CreditRequest], approve: bool) -> None:
        actor = request.user
        assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
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

    @admin.action(description="Approve selected credit requests", permissions=("action",))
    def approve(self, request: HttpRequest, queryset: QuerySet[CreditRequest]) -> None:
        self._run(request, queryset, approve=True)

    @admin.action(description="Reject selected credit requests", permissions=("action",))
    def reject(self, request: HttpRequest, queryset: QuerySet[CreditRequest]) -> None:
        self._run(request, queryset, approve=False)


@admin.register(CustomerCreditOperation)
class CustomerCreditOperationAdmin(ReadOnlyAdmin):
    list_display = ("id", "vendor", "customer", "amount", "status", "failure_code", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "vendor__business_name", "customer__phone")
