from django.urls import path

from tally.identity import apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/login/", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/refresh/", apis.RefreshApi.as_view(), name="auth-refresh"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/me/", apis.MeApi.as_view(), name="auth-me"),
    path("api-keys/", apis.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<uuid:api_key_id>/", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("customers/", apis.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<uuid:customer_id>/", apis.CustomerDetailApi.as_view(), name="customer-detail"),
    path("vendors/", apis.VendorListApi.as_view(), name="vendor-list"),
    path("vendors/<uuid:vendor_id>/", apis.VendorDetailApi.as_view(), name="vendor-detail"),
    path(
        "vendors/<uuid:vendor_id>/activate/",
        apis.VendorActivateApi.as_view(),
        name="vendor-activate",
    ),
    path(
        "vendors/<uuid:vendor_id>/deactivate/",
        apis.VendorDeactivateApi.as_view(),
        name="vendor-deactivate",
    ),
]
