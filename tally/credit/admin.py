"""Credit requests in Django admin; approve/reject call the same services as the API.

A request's page shows what an admin needs to decide it: the amount, the approvals so far,
the vendor's current prepaid balance and its newest statement entries (linked to the ledger's
transfer pages), and **Approve** / **Reject** buttons for staff who may decide. The buttons
and the list's bulk actions call ``credit_request_approve`` / ``credit_request_reject``, so
the maker-checker rule, the audit rows and the outbox work exactly as through the API; a
refusal is shown as a message on the page, never an error page.

Low-credit alerts (Credit → Low-credit alerts) edit each vendor's threshold and webhook URL;
saving calls ``vendor_low_credit_alert_update``, as the API does (docs/alerts.md).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.validators import URLValidator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import URLPattern, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from tally.credit import low_credit, selectors, services
from tally.credit.models import (
    CreditRequest,
    CreditRequestStatus,
    CustomerCreditOperation,
    VendorLowCreditAlert,
)
from tally.identity.models import User, VendorProfile
from tally.platform.admin import ReadOnlyAdmin, object_action_urls
from tally.platform.exceptions import DomainError
from tally.platform.money import MAX_AMOUNT_MINOR, from_minor, to_minor

DECIDABLE = (CreditRequestStatus.PENDING, CreditRequestStatus.AWAITING_SECOND_APPROVAL)


def _actor(request: HttpRequest) -> User:
    actor = request.user
    assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
    return actor


def _approval_outcome(credit_request: CreditRequest) -> str:
    """What an approval that went through did, in the admin's words."""
    if credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL:
        return (
            "First approval recorded; a different admin must approve it before the vendor "
            "is credited."
        )
    return "Approved; the vendor is being credited (asynchronously)."


@admin.register(CreditRequest)
class CreditRequestAdmin(ReadOnlyAdmin):
    """Requests are decided only through the buttons and actions, which call the services."""

    list_display = (
        "id",
        "vendor",
        "amount_display",
        "status",
        "approvals_display",
        "created_at",
        "decided_by",
        "credited_at",
    )
    list_filter = ("status",)
    list_select_related = ("vendor", "decided_by")
    search_fields = ("id", "vendor__business_name", "vendor__user__email")
    actions = ("approve", "reject")
    change_form_template = "admin/credit/creditrequest/change_form.html"
    readonly_fields = (
        "amount_display",
        "approvals_display",
        "vendor_balance",
        "vendor_statement",
    )
    fieldsets = (
        (
            "Request",
            {"fields": ("id", "vendor", "amount_display", "note", "status", "created_at")},
        ),
        (
            "Approvals",
            {
                "fields": (
                    "approvals_display",
                    "first_approved_by",
                    "first_approved_at",
                    "decided_by",
                    "decided_at",
                    "rejection_reason",
                    "transfer",
                    "credited_at",
                )
            },
        ),
        ("Vendor's prepaid credit", {"fields": ("vendor_balance", "vendor_statement")}),
    )

    # --- read-only fields -----------------------------------------------------------------

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, credit_request: CreditRequest) -> str:
        return from_minor(credit_request.amount)

    @admin.display(description="approvals")
    def approvals_display(self, credit_request: CreditRequest) -> str:
        given = len(selectors.credit_request_approvals(credit_request=credit_request))
        required = selectors.credit_request_approvals_required(credit_request=credit_request)
        return f"{given} of {required}"

    @admin.display(description="current balance")
    def vendor_balance(self, credit_request: CreditRequest) -> SafeString | str:
        panel = selectors.vendor_credit_panel(vendor=credit_request.vendor)
        if panel.account is None or panel.balance is None:
            return "0.00 (no movement yet)"
        return format_html(
            '<a href="{}">{} {}</a> (available {}, pending {})',
            reverse("admin:ledger_account_change", args=[panel.account.pk]),
            from_minor(panel.balance.balance),
            panel.balance.currency,
            from_minor(panel.balance.available),
            from_minor(panel.balance.pending),
        )

    @admin.display(description="recent history")
    def vendor_statement(self, credit_request: CreditRequest) -> SafeString | str:
        panel = selectors.vendor_credit_panel(vendor=credit_request.vendor)
        if panel.account is None or not panel.recent_entries:
            return "No movement yet."
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td class="amount">{}</td><td class="amount">{}</td>'
            '<td><a href="{}">{}</a></td></tr>',
            (
                (
                    entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    entry.transfer.code,
                    from_minor(entry.amount),
                    "" if entry.balance_after is None else from_minor(entry.balance_after),
                    reverse("admin:ledger_transfer_change", args=[entry.transfer_id]),
                    entry.transfer.reference or str(entry.transfer_id)[:8],
                )
                for entry in panel.recent_entries
            ),
        )
        return format_html(
            '<table class="vendor-statement"><thead><tr><th>when</th><th>code</th>'
            "<th>amount</th><th>balance after</th><th>transfer</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}?account={}">All entries</a></p>',
            rows,
            reverse("admin:ledger_entry_changelist"),
            panel.account.pk,
        )

    # --- the decision buttons on a request's page -----------------------------------------

    def get_urls(self) -> list[URLPattern]:
        return [
            *object_action_urls(self, {"approve": self.approve_view, "reject": self.reject_view}),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        credit_request = self.get_object(request, unquote(object_id))
        context = {
            **(extra_context or {}),
            "can_decide": (
                credit_request is not None
                and credit_request.status in DECIDABLE
                and self.has_action_permission(request)
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    def _decided(self, request: HttpRequest, object_id: str) -> CreditRequest:
        if not self.has_action_permission(request):
            raise PermissionDenied
        credit_request = self.get_object(request, unquote(object_id))
        if credit_request is None:
            raise Http404("No such credit request.")
        return credit_request

    def _back_to(self, credit_request: CreditRequest) -> HttpResponseRedirect:
        return HttpResponseRedirect(
            reverse("admin:credit_creditrequest_change", args=[credit_request.pk])
        )

    @method_decorator(require_POST)
    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        credit_request = self._decided(request, object_id)
        try:
            services.credit_request_approve(actor=_actor(request), credit_request=credit_request)
        except DomainError as error:
            self.message_user(request, f"Not approved: {error.detail}", messages.ERROR)
        else:
            self.message_user(request, _approval_outcome(credit_request), messages.SUCCESS)
        return self._back_to(credit_request)

    @method_decorator(require_POST)
    def reject_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        credit_request = self._decided(request, object_id)
        reason = str(request.POST.get("reason", "")).strip()[:500]
        try:
            services.credit_request_reject(
                actor=_actor(request), credit_request=credit_request, reason=reason
            )
        except DomainError as error:
            self.message_user(request, f"Not rejected: {error.detail}", messages.ERROR)
        else:
            self.message_user(request, "Credit request rejected.", messages.SUCCESS)
        return self._back_to(credit_request)

    # --- bulk actions on the list ---------------------------------------------------------

    def _run(self, request: HttpRequest, queryset: QuerySet[CreditRequest], approve: bool) -> None:
        actor = _actor(request)
        done, awaiting, refused = 0, 0, 0
        for credit_request in queryset:
            try:
                if approve:
                    services.credit_request_approve(actor=actor, credit_request=credit_request)
                else:
                    services.credit_request_reject(actor=actor, credit_request=credit_request)
            except DomainError as error:
                refused += 1
                self.message_user(request, f"{credit_request.id}: {error.detail}", messages.WARNING)
                continue
            if credit_request.status == CreditRequestStatus.AWAITING_SECOND_APPROVAL:
                awaiting += 1
            else:
                done += 1
        if approve:
            summary = f"Approved (crediting asynchronously): {done}."
            if awaiting:
                summary += f" First approval recorded, a different admin must approve: {awaiting}."
        else:
            summary = f"Rejected: {done}."
        self.message_user(request, f"{summary} Refused: {refused}.", messages.SUCCESS)

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


class LowCreditAlertForm(forms.ModelForm):
    """The threshold as an amount (``"50.00"``; empty: off), the webhook URL (http(s))."""

    threshold = forms.DecimalField(
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(from_minor(MAX_AMOUNT_MINOR)),
        decimal_places=2,
        help_text="Alert when a debit takes the credit from at or above this to below it. "
        "Empty or 0: no alerts.",
    )
    alert_webhook_url = forms.URLField(
        required=False,
        max_length=500,
        label="Webhook URL",
        assume_scheme="https",
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Also POST the alert here, signed (empty: email only). A signing secret is "
        "generated the first time and shown once.",
    )
    rotate_webhook_secret = forms.BooleanField(required=False)

    class Meta:
        model = VendorLowCreditAlert
        fields = ("alert_webhook_url",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        threshold = self.instance.low_credit_threshold
        if threshold is not None:
            self.initial["threshold"] = Decimal(from_minor(threshold))


@admin.register(VendorLowCreditAlert)
class VendorLowCreditAlertAdmin(admin.ModelAdmin):
    """Each vendor's low-credit threshold and webhook. Saving calls
    ``vendor_low_credit_alert_update`` (validated, audited, as through the API); no add or
    delete (a vendor is created through the API)."""

    form = LowCreditAlertForm
    list_display = ("business_name", "user", "threshold_display", "alert_webhook_url")
    search_fields = ("business_name", "user__email")
    list_select_related = ("user",)
    fields = ("business_name", "threshold", "alert_webhook_url", "rotate_webhook_secret")
    readonly_fields = ("business_name",)
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="threshold")
    def threshold_display(self, vendor: VendorLowCreditAlert) -> str:
        threshold = vendor.low_credit_threshold
        return from_minor(threshold) if threshold else "off"

    def save_model(
        self, request: HttpRequest, obj: VendorLowCreditAlert, form: Any, change: bool
    ) -> None:
        # The form changed ``obj`` in memory only; the service writes from the stored row.
        vendor = VendorProfile.objects.select_related("user").get(pk=obj.pk)
        threshold = form.cleaned_data["threshold"]
        updated = low_credit.vendor_low_credit_alert_update(
            actor=_actor(request),
            vendor=vendor,
            threshold_minor=None if threshold is None else to_minor(threshold),
            webhook_url=form.cleaned_data["alert_webhook_url"],
            rotate_webhook_secret=form.cleaned_data["rotate_webhook_secret"],
        )
        if updated.new_webhook_secret:
            self.message_user(
                request,
                f"{vendor}: the webhook signing secret is {updated.new_webhook_secret} — "
                "give it to the vendor now; it is not shown again.",
                messages.WARNING,
            )
