from django.urls import path

from tally.topups import apis

urlpatterns = [
    path(
        "vendors/<uuid:vendor_id>/charges/",
        apis.VendorChargeListApi.as_view(),
        name="vendor-charge-list",
    ),
    path("charge-sales/", apis.ChargeSaleListApi.as_view(), name="charge-sale-list"),
    path("phone-numbers/", apis.PhoneNumberListApi.as_view(), name="phone-number-list"),
    path(
        "phone-numbers/<uuid:phone_number_id>/",
        apis.PhoneNumberDetailApi.as_view(),
        name="phone-number-detail",
    ),
]
