from django.urls import path

from tally.offers import apis

urlpatterns = [
    path("offers/", apis.OfferListApi.as_view(), name="offer-list"),
    path("offers/expiring/", apis.OfferExpiringApi.as_view(), name="offer-expiring"),
    path("offers/renew/", apis.OfferRenewApi.as_view(), name="offer-renew"),
    path("offers/<uuid:offer_id>/", apis.OfferDetailApi.as_view(), name="offer-detail"),
    path("activations/", apis.ActivationListApi.as_view(), name="activation-list"),
    path(
        "activations/<uuid:activation_id>/",
        apis.ActivationDetailApi.as_view(),
        name="activation-detail",
    ),
    path("account/balance/", apis.AccountBalanceApi.as_view(), name="account-balance"),
    path(
        "account/subscriptions/",
        apis.AccountSubscriptionListApi.as_view(),
        name="account-subscriptions",
    ),
    path(
        "account/subscriptions/<uuid:subscription_id>/",
        apis.AccountSubscriptionDetailApi.as_view(),
        name="account-subscription-detail",
    ),
    path(
        "account/transactions/",
        apis.AccountTransactionListApi.as_view(),
        name="account-transactions",
    ),
    path(
        "account/transactions/<int:entry_id>/",
        apis.AccountTransactionDetailApi.as_view(),
        name="account-transaction-detail",
    ),
]
