"""The platform's own API routes (under ``/api/v1/``): async operation status."""

from django.urls import include, path

urlpatterns = [
    path("", include("tally.platform.operations.urls")),
]
