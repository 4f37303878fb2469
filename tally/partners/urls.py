from django.urls import path

from tally.partners import apis

urlpatterns = [
    path(
        "partner/activations/",
        apis.PartnerActivationCreateApi.as_view(),
        name="partner-activation-create",
    ),
    path(
        "partner/validate/<str:reference>/",
        apis.PartnerActivationValidateApi.as_view(),
        name="partner-activation-validate",
    ),
]
