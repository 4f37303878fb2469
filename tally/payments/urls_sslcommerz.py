"""SSLCommerz's routes (the IPN webhook, the buyer's return pages)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
