from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from tally.platform import metrics
from tally.platform.health import views as health

api_v1 = [
    path("", include("tally.platform.urls")),
    path("", include("tally.identity.urls")),
    path("", include("tally.ledger.urls")),
    path("", include("tally.credit.urls")),
    path("", include("tally.topups.urls")),
    path("", include("tally.offers.urls")),
    path("", include("tally.partners.urls")),
    path("", include("tally.catalog.urls")),
    path("", include("tally.orders.urls")),
    path("", include("tally.payments.urls")),
    path("", include("tally.invoices.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("metrics", metrics.metrics, name="prometheus-django-metrics"),
]

handler400 = "tally.platform.api.errors.bad_request"
handler403 = "tally.platform.api.errors.permission_denied"
handler404 = "tally.platform.api.errors.page_not_found"
handler500 = "tally.platform.api.errors.server_error"
