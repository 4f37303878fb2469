"""Payments and refunds in Django admin. Money moves only through the use cases (captured,
split, refunded under their locks and guards); the admin shows each payment with its event
log and refunds, each refund with its lines. Cash and bank transfers are confirmed through
``POST payments/{id}/confirm/`` (audited).

Two buttons on a payment's page call the same services as the API and the jobs:

- **Refund…** (a captured payment) opens a form: all that is left, an amount of the whole
  order, or chosen lines (each with an optional amount), to the payment's method or the
  customer's wallet, with a reason. The input is validated by the API's own serializer and
  given to ``refund_create`` as the admin, so the refund rules, the ledger's reversal, the
  audit row and the gateway job are exactly the API's; a refusal is a message.
- **Ask the gateway again** (a card payment left in flight) calls
  ``payment_revalidate_request``: a job asks the gateway's validation API what became of
  it and settles the answer once (``tally.payments.revalidation``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.safestring import SafeString
from django.views.decorators.http import require_POST

from tally.identity.models import User
from tally.identity.services import actor_require_admin
from tally.orders.selectors import order_get_for_actor
from tally.payments import refunds
from tally.payments.models import (
    IN_FLIGHT,
    Payment,
    PaymentEvent,
    PaymentStatus,
    Refund,
    RefundDestination,
    RefundLine,
    RefundStatus,
)
from tally.payments.refund_apis import RefundInputSerializer
from tally.payments.revalidation import payment_revalidate_request
from tally.platform.admin import ReadOnlyAdmin, audit_history_html, object_action_urls
from tally.platform.exceptions import DomainError
from tally.platform.money import from_minor

REFUNDABLE = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)
# Gateways whose payments no gateway can be asked about (confirmed by hand, or settled at once).
NOT_REVALIDATED = ("manual", "wallet")


def _actor(request: HttpRequest) -> User:
    actor = request.user
    assert isinstance(actor, User)  # nosec B101  # type narrowing, not a check
    return actor


def _errors_of(errors: Any, prefix: str = "") -> list[str]:
    """A serializer's nested errors as flat lines, ``field: message`` (list items numbered
    from 1, as the form shows them)."""
    if isinstance(errors, dict):
        lines = []
        for field, nested in errors.items():
            name = str(field + 1) if isinstance(field, int) else str(field)
            lines += _errors_of(
                nested, prefix if name == "non_field_errors" else f"{prefix}{name}: "
            )
        return lines
    if isinstance(errors, list):
        if all(isinstance(error, str) for error in errors):
            return [f"{prefix}{error}" for error in errors]
        return [
            line
            for index, nested in enumerate(errors)
            if nested
            for line in _errors_of(nested, f"{prefix}{index + 1}: ")
        ]
    return [f"{prefix}{errors}"]


def refund_input_from_form(post: Any) -> tuple[dict[str, Any], list[str]]:
    """The refund form's fields as the API's request body (``RefundInputSerializer``'s
    input), or the problems to show. ``scope`` says what is refunded: ``full`` (all that is
    left), ``amount`` (of the whole order) or ``lines`` (the ticked lines, each with an
    optional amount)."""
    data: dict[str, Any] = {
        "destination": str(post.get("destination", RefundDestination.ORIGINAL)),
        "reason": str(post.get("reason", "")).strip(),
    }
    scope = post.get("scope")
    if scope == "amount":
        amount = str(post.get("amount", "")).strip()
        if not amount:
            return data, ["amount: Enter the amount to give back."]
        data["amount"] = amount
    elif scope == "lines":
        lines = []
        for item_id in post.getlist("line"):
            amount = str(post.get(f"line_amount_{item_id}", "")).strip()
            lines.append({"item_id": item_id, **({"amount": amount} if amount else {})})
        if not lines:
            return data, ["lines: Tick at least one line to give back."]
        data["lines"] = lines
    elif scope != "full":
        return data, ["Choose what to refund: all that is left, an amount, or lines."]
    return data, []


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PaymentEventInline(_ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "kind", "payload", "digest")
    readonly_fields = fields
    ordering = ("id",)


class UnreconciledFilter(admin.SimpleListFilter):
    """Card payments in flight for longer than ``PAYMENTS_RECONCILE_AFTER_SECONDS``: those
    the reconcile job asks the gateway about, and an admin may ask about now."""

    title = "unreconciled"
    parameter_name = "unreconciled"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "in flight past the reconcile delay")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() != "yes":
            return queryset
        cutoff = timezone.now() - timedelta(seconds=settings.PAYMENTS_RECONCILE_AFTER_SECONDS)
        return queryset.filter(status__in=IN_FLIGHT, updated_at__lte=cutoff).exclude(
            gateway__in=NOT_REVALIDATED
        )


class RefundInline(_ReadOnlyInline):
    model = Refund
    fields = ("created_at", "amount", "destination", "status", "reason", "failure_reason")
    readonly_fields = fields
    ordering = ("created_at",)
    show_change_link = True


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    # Amounts are integers of minor units of the payment's currency.
    list_display = (
        "id",
        "order",
        "method",
        "gateway",
        "status",
        "amount",
        "refunded_amount",
        "currency",
        "created_at",
    )
    list_filter = (UnreconciledFilter, "status", "method", "gateway", "created_at")
    search_fields = ("=id", "=order__number", "order__email", "=gateway_reference")
    list_select_related = ("order",)
    ordering = ("-created_at",)
    raw_id_fields = ("order", "payer")
    inlines = (PaymentEventInline, RefundInline)
    actions = ("revalidate",)
    change_form_template = "admin/payments/payment/change_form.html"
    readonly_fields = ("money", "history")
    # Hosted-payment links typed without a scheme are https (Django 6's default, explicit now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="money")
    def money(self, payment: Payment) -> str:
        return (
            f"{from_minor(payment.amount)} {payment.currency} paid, "
            f"{from_minor(payment.refunded_amount)} refunded (or being refunded), "
            f"{from_minor(payment.amount - payment.refunded_amount)} left"
        )

    @admin.display(description="status history")
    def history(self, payment: Payment) -> SafeString | str:
        return audit_history_html(payment)

    def get_urls(self) -> list[URLPattern]:
        return [
            *object_action_urls(
                self, {"refund": self.refund_view, "revalidate": self.revalidate_view}
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
        payment = self.get_object(request, unquote(object_id))
        allowed = payment is not None and self.has_action_permission(request)
        context = {
            **(extra_context or {}),
            "can_refund": allowed and payment is not None and payment.status in REFUNDABLE,
            "can_revalidate": (
                allowed
                and payment is not None
                and payment.status in IN_FLIGHT
                and payment.gateway not in NOT_REVALIDATED
            ),
        }
        return super().change_view(request, object_id, form_url, context)

    def _payment(self, request: HttpRequest, object_id: str) -> Payment:
        if not self.has_action_permission(request):
            raise PermissionDenied
        payment = self.get_object(request, unquote(object_id))
        if payment is None:
            raise Http404("No such payment.")
        return payment

    def _back_to(self, payment: Payment) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:payments_payment_change", args=[payment.pk]))

    @admin.action(
        description="Ask the gateway again about selected payments", permissions=("action",)
    )
    def revalidate(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        asked = 0
        for payment in queryset:
            try:
                payment_revalidate_request(actor=_actor(request), payment=payment)
            except DomainError as error:
                self.message_user(request, f"{payment.pk}: {error.detail}", messages.WARNING)
            else:
                asked += 1
        if asked:
            self.message_user(
                request,
                f"Asked the gateway again about {asked} payment(s); a worker settles the answers.",
                messages.SUCCESS,
            )

    @method_decorator(require_POST)
    def revalidate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment = self._payment(request, object_id)
        try:
            payment_revalidate_request(actor=_actor(request), payment=payment)
        except DomainError as error:
            self.message_user(request, f"Not asked: {error.detail}", messages.ERROR)
        else:
            self.message_user(
                request,
                "Asked the gateway again; a worker settles its answer (reload to see it).",
                messages.SUCCESS,
            )
        return self._back_to(payment)

    def refund_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        payment = self._payment(request, object_id)
        if request.method == "POST":
            done = self._refund(request, payment)
            if done:
                return self._back_to(payment)
        return self._refund_form(request, payment)

    def _refund(self, request: HttpRequest, payment: Payment) -> bool:
        """Validate the form as the API validates its body, then refund as the admin."""
        data, problems = refund_input_from_form(request.POST)
        serializer = RefundInputSerializer(data=data)
        if not problems and not serializer.is_valid():
            problems = _errors_of(serializer.errors)
        if problems:
            for problem in problems:
                self.message_user(request, f"Not refunded: {problem}", messages.ERROR)
            return False
        values = serializer.validated_data
        actor = _actor(request)
        try:
            # The console is the admins': a vendor refunds its own lines through the API.
            actor_require_admin(actor=actor)
            access = order_get_for_actor(actor=actor, order_id=payment.order_id)
            refund = refunds.refund_create(
                access=access,
                actor=actor,
                request=refunds.RefundRequest(
                    amount=values.get("amount"),
                    lines=[
                        refunds.RefundLineRequest(
                            item_id=line["item_id"], amount=line.get("amount")
                        )
                        for line in values.get("lines") or []
                    ],
                    destination=values["destination"],
                    reason=values["reason"],
                ),
            )
        except DomainError as error:
            self.message_user(request, f"Not refunded: {error.detail}", messages.ERROR)
            return False
        amount = f"{from_minor(refund.amount)} {payment.currency}"
        if refund.status == RefundStatus.SUCCEEDED:
            text = f"Refunded {amount} ({refund.destination}); the order is {refund.order.status}."
        else:
            text = (
                f"Refund of {amount} requested; it is pending until the gateway confirms it "
                "(a worker asks it)."
            )
        self.message_user(request, text, messages.SUCCESS)
        return True

    def _refund_form(self, request: HttpRequest, payment: Payment) -> HttpResponse:
        refunded = dict(
            RefundLine.objects.filter(refund__payment=payment)
            .exclude(refund__status=RefundStatus.FAILED)
            .values("item_id")
            .annotate(total=Sum("amount"))
            .values_list("item_id", "total")
        )
        items = [
            {
                "item": item,
                "line_total": from_minor(item.line_total),
                "refunded": from_minor(int(refunded.get(item.pk, 0))),
                "left": from_minor(item.line_total - int(refunded.get(item.pk, 0))),
            }
            for item in payment.order.items.order_by("pk")
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": payment,
            "title": f"Refund order {payment.order.number}",
            "payment_money": self.money(payment),
            "can_refund": payment.status in REFUNDABLE,
            "items": items,
            "destinations": RefundDestination.choices,
            "form": request.POST if request.method == "POST" else {},
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)


class RefundLineInline(_ReadOnlyInline):
    model = RefundLine
    fields = ("item", "amount")
    readonly_fields = fields


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "amount", "destination", "status", "created_at")
    list_filter = ("status", "destination", "created_at")
    search_fields = ("=id", "=order__number", "=payment__id", "=gateway_reference")
    list_select_related = ("order",)
    ordering = ("-created_at",)
    raw_id_fields = ("order", "payment", "requested_by")
    inlines = (RefundLineInline,)
    readonly_fields = ("history",)

    @admin.display(description="status history")
    def history(self, refund: Refund) -> SafeString | str:
        return audit_history_html(refund)
