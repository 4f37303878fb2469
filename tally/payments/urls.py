from django.urls import path

from tally.payments import apis, urls_refunds, urls_sslcommerz

urlpatterns = [
    path(
        "orders/<uuid:order_id>/process-payment/",
        apis.OrderPayApi.as_view(),
        name="order-process-payment",
    ),
    path("payments/<uuid:payment_id>/", apis.PaymentDetailApi.as_view(), name="payment-detail"),
    path(
        "payments/<uuid:payment_id>/withdraw/",
        apis.PaymentWithdrawApi.as_view(),
        name="payment-withdraw",
    ),
    path(
        "payments/<uuid:payment_id>/confirm/",
        apis.PaymentConfirmApi.as_view(),
        name="payment-confirm",
    ),
]
urlpatterns += urls_sslcommerz.urlpatterns + urls_refunds.urlpatterns
