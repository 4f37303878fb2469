from django.urls import path

from tally.platform.operations import apis

urlpatterns = [
    path(
        "operations/<uuid:operation_id>/",
        apis.OperationDetailApi.as_view(),
        name="operation-detail",
    ),
]
