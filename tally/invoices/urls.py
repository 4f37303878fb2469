from django.urls import path

from tally.invoices import apis

urlpatterns = [
    path("orders/<uuid:order_id>/invoice/", apis.OrderInvoiceApi.as_view(), name="order-invoice"),
]
