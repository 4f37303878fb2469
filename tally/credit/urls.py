from django.urls import path

from tally.credit import apis

urlpatterns = [
    path("credit-requests/", apis.CreditRequestListApi.as_view(), name="credit-request-list"),
    path(
        "credit-requests/<uuid:credit_request_id>/",
        apis.CreditRequestDetailApi.as_view(),
        name="credit-request-detail",
    ),
    path(
        "credit-requests/<uuid:credit_request_id>/approve/",
        apis.CreditRequestApproveApi.as_view(),
        name="credit-request-approve",
    ),
    path(
        "credit-requests/<uuid:credit_request_id>/reject/",
        apis.CreditRequestRejectApi.as_view(),
        name="credit-request-reject",
    ),
    path(
        "vendors/<uuid:vendor_id>/balance/", apis.VendorBalanceApi.as_view(), name="vendor-balance"
    ),
    path(
        "vendors/<uuid:vendor_id>/low-credit-alert/",
        apis.VendorLowCreditAlertApi.as_view(),
        name="vendor-low-credit-alert",
    ),
    path("vendors/<uuid:vendor_id>/credit/", apis.VendorCreditApi.as_view(), name="vendor-credit"),
    path(
        "vendors/<uuid:vendor_id>/transactions/",
        apis.VendorTransactionsApi.as_view(),
        name="vendor-transactions",
    ),
    path(
        "credit-transactions/", apis.CreditTransactionListApi.as_view(), name="credit-transactions"
    ),
    path(
        "customers/<uuid:customer_id>/credit/",
        apis.CustomerCreditApi.as_view(),
        name="customer-credit",
    ),
]
