"""Routes that exist only in tests, to drive unexpected failures through the real stack."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class ExplodingApi(APIView):
    permission_classes = (AllowAny,)

    def get(self, request: Request) -> Response:
        raise RuntimeError("secret internal detail")


def exploding_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret internal detail")


urlpatterns = [
    path("boom/api/", ExplodingApi.as_view()),
    path("boom/django/", exploding_view),
    path("", include("config.urls")),
]

handler404 = "tally.platform.api.errors.page_not_found"
handler500 = "tally.platform.api.errors.server_error"
