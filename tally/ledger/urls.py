from django.urls import path

from tally.ledger import apis

urlpatterns = [
    path("ledger/verify/", apis.LedgerVerifyApi.as_view(), name="ledger-verify"),
]
