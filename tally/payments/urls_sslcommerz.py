"""SSLCommerz's routes (the IPN webhook, the buyer's return pages)."""

from django.urls import URLPattern, path

from tally.payments import webhooks

urlpatterns: list[URLPattern] = [
    path(
        "payments/webhooks/sslcommerz/",
        webhooks.SslcommerzIpnApi.as_view(),
        name="payment-sslcommerz-ipn",
    ),
    path(
        "payments/sslcommerz/success/",
        webhooks.SslcommerzSuccessApi.as_view(),
        name="payment-sslcommerz-success",
    ),
    path(
        "payments/sslcommerz/fail/",
        webhooks.SslcommerzFailApi.as_view(),
        name="payment-sslcommerz-fail",
    ),
    path(
        "payments/sslcommerz/cancel/",
        webhooks.SslcommerzCancelApi.as_view(),
        name="payment-sslcommerz-cancel",
    ),
]
