from django.urls import path

from tally.offers import apis

urlpatterns = [
    path("offers/", apis.OfferListApi.as_view(), name="offer-list"),
    path("offers/<uuid:offer_id>/", apis.OfferDetailApi.as_view(), name="offer-detail"),
]
