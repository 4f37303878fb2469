from django.urls import path

from tally.catalog import apis

urlpatterns = [
    path("services/", apis.ServiceListApi.as_view(), name="service-list"),
    path("services/<uuid:service_id>/", apis.ServiceDetailApi.as_view(), name="service-detail"),
    path(
        "services/<uuid:service_id>/variants/",
        apis.VariantListApi.as_view(),
        name="service-variant-list",
    ),
    path(
        "services/<uuid:service_id>/variants/<uuid:variant_id>/",
        apis.VariantDetailApi.as_view(),
        name="service-variant-detail",
    ),
]
