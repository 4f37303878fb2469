from django.urls import path

from tally.orders import apis

urlpatterns = [
    path("orders/", apis.OrderListApi.as_view(), name="order-list"),
    path("orders/<uuid:order_id>/", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("orders/<uuid:order_id>/cancel/", apis.OrderCancelApi.as_view(), name="order-cancel"),
    path(
        "orders/<uuid:order_id>/complete/",
        apis.OrderCompleteApi.as_view(),
        name="order-complete",
    ),
]
