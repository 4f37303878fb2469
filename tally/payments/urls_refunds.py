"""Refund routes."""

from django.urls import URLPattern, path

from tally.payments import refund_apis

urlpatterns: list[URLPattern] = [
    path(
        "orders/<uuid:order_id>/refund/",
        refund_apis.OrderRefundApi.as_view(),
        name="order-refund",
    ),
    path(
        "orders/<uuid:order_id>/refunds/",
        refund_apis.OrderRefundListApi.as_view(),
        name="order-refunds",
    ),
    path("refunds/<uuid:refund_id>/", refund_apis.RefundDetailApi.as_view(), name="refund-detail"),
]
