"""Authorization matrix: every API route, method and caller against an explicit table.

The routes come from the URL configuration (everything under ``api/v1/``); the methods a
route answers are the ones its view class defines. Each cell sends the request with an
empty body and checks only whether the caller was refused (401, 403 or 404) or let
through (any other status, never a 5xx). A bad body answers 400 to a caller that is let
through, which counts as let through.

A route or method that is not in ``TABLE`` fails ``test_every_route_has_a_table_entry``:
a new endpoint cannot land without saying who may call it.

Callers: anonymous, a customer, a partner, an inactive vendor, an active vendor on its
own objects (``own``) and on another vendor's (``other``), and an admin. Path parameters
are filled from a small world: the vendor's (or the other vendor's) service, variant,
customer, order, credit request, phone number and API key, a shared offer, and a random
id where no object of the kind exists (404 for every caller).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from tally.catalog.testing import service_make, variant_make
from tally.credit.services import credit_request_create
from tally.identity.models import CustomerProfile, User, VendorProfile
from tally.identity.services import api_key_create
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.invoices.services import invoice_issue
from tally.offers.testing import customer_fund, customer_wallet, offer_make, subscription_make
from tally.orders.selectors import order_get_for_actor
from tally.orders.testing import order_confirm_for_test, order_place_for_test
from tally.payments.models import Payment, PaymentStatus
from tally.payments.services import PaymentRequest, payment_start
from tally.topups.services import phone_number_create

API_PREFIX = "api/v1/"
# Outside the API and not in the matrix: the schema and its viewers, /metrics (its own
# token test), health probes and the Django admin (its own login).
SKIPPED_PREFIXES = ("api/schema", "api/docs", "api/redoc", "metrics", "health/", "admin/")

ANON, CUSTOMER, PARTNER, INACTIVE, OWN, OTHER, ADMIN = (
    "anonymous",
    "customer",
    "partner",
    "inactive_vendor",
    "vendor_own",
    "vendor_other",
    "admin",
)
CALLERS = (ANON, CUSTOMER, PARTNER, INACTIVE, OWN, OTHER, ADMIN)
REFUSED = frozenset({401, 403, 404})

EVERYONE = frozenset(CALLERS)
NOBODY: frozenset[str] = frozenset()
SIGNED_IN = frozenset({CUSTOMER, PARTNER, INACTIVE, OWN, OTHER, ADMIN})

# Bodies for routes that validate the body before looking the object up: with an empty
# body every caller would get 400 and the matrix would not see the object guard.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("order-process-payment", "post"): {"method": "wallet"},
    ("api-key-list", "post"): {"name": "matrix"},
}

# (route name, method) -> the callers the permission layer lets through.
TABLE: dict[tuple[str, str], frozenset[str]] = {
    # No operation in the world: a random id, unknown to every signed-in caller.
    ("operation-detail", "get"): NOBODY,
    # Sign-up, sign-in, refresh and logout are open: the body carries the credential.
    ("auth-register", "post"): EVERYONE,
    ("auth-login", "post"): EVERYONE,
    ("auth-refresh", "post"): EVERYONE,
    ("auth-logout", "post"): EVERYONE,
    ("auth-me", "get"): SIGNED_IN,
    ("auth-me", "patch"): SIGNED_IN,
    # API keys belong to vendors and partners; an inactive vendor may list its keys, and
    # reaches creation (then 422 vendor_inactive).
    ("api-key-list", "get"): frozenset({PARTNER, INACTIVE, OWN, OTHER}),
    ("api-key-list", "post"): frozenset({PARTNER, INACTIVE, OWN, OTHER}),
    ("api-key-detail", "get"): frozenset({OWN}),
    ("api-key-detail", "delete"): frozenset({OWN}),
    # An inactive vendor reaches customer, credit-request, customer-credit, service and phone
    # creation: the body is validated first, then the service refuses (422 vendor_inactive).
    ("customer-list", "get"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("customer-list", "post"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("customer-detail", "get"): frozenset({OWN, ADMIN}),
    ("vendor-list", "get"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("vendor-list", "post"): frozenset({ADMIN}),
    ("vendor-detail", "get"): frozenset({OWN, ADMIN}),
    ("vendor-detail", "patch"): frozenset({OWN, ADMIN}),
    ("vendor-detail", "delete"): frozenset({ADMIN}),
    ("vendor-activate", "post"): frozenset({ADMIN}),
    ("vendor-deactivate", "post"): frozenset({ADMIN}),
    ("ledger-verify", "get"): frozenset({ADMIN}),
    ("credit-request-list", "get"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("credit-request-list", "post"): frozenset({INACTIVE, OWN, OTHER}),
    ("credit-request-detail", "get"): frozenset({OWN, ADMIN}),
    ("credit-request-approve", "post"): frozenset({ADMIN}),
    ("credit-request-reject", "post"): frozenset({ADMIN}),
    ("vendor-balance", "get"): frozenset({OWN, ADMIN}),
    ("vendor-credit", "post"): frozenset({ADMIN}),
    ("vendor-low-credit-alert", "get"): frozenset({OWN, ADMIN}),
    ("vendor-low-credit-alert", "patch"): frozenset({OWN, ADMIN}),
    ("vendor-transactions", "get"): frozenset({OWN, ADMIN}),
    ("credit-transactions", "get"): frozenset({ADMIN}),
    ("customer-credit", "post"): frozenset({INACTIVE, OWN, OTHER}),
    ("vendor-charge-list", "get"): frozenset({OWN, ADMIN}),
    ("vendor-charge-list", "post"): frozenset({OWN}),
    ("charge-sale-list", "get"): frozenset({ADMIN}),
    ("phone-number-list", "get"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("phone-number-list", "post"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("phone-number-detail", "get"): frozenset({OWN, ADMIN}),
    ("phone-number-detail", "put"): frozenset({OWN, ADMIN}),
    ("phone-number-detail", "delete"): frozenset({OWN, ADMIN}),
    # The offer catalog and the service catalog are public to read.
    ("offer-list", "get"): EVERYONE,
    ("offer-list", "post"): frozenset({ADMIN}),
    ("offer-expiring", "get"): frozenset({CUSTOMER}),
    ("offer-renew", "post"): frozenset({CUSTOMER}),
    ("offer-detail", "get"): EVERYONE,
    ("offer-detail", "patch"): frozenset({ADMIN}),
    ("activation-list", "post"): frozenset({CUSTOMER}),
    # No activation, refund, operation or partner reference in the world:
    # random ids, 404 to whoever may look.
    ("activation-detail", "get"): NOBODY,
    ("account-balance", "get"): frozenset({CUSTOMER}),
    ("account-subscriptions", "get"): frozenset({CUSTOMER}),
    ("account-subscription-detail", "get"): frozenset({CUSTOMER}),
    ("account-subscription-detail", "patch"): frozenset({CUSTOMER}),
    ("account-transactions", "get"): frozenset({CUSTOMER}),
    ("account-transaction-detail", "get"): frozenset({CUSTOMER}),
    ("partner-activation-create", "post"): frozenset({PARTNER}),
    ("partner-activation-validate", "get"): NOBODY,
    ("service-list", "get"): EVERYONE,
    ("service-list", "post"): frozenset({INACTIVE, OWN, OTHER, ADMIN}),
    ("service-detail", "get"): EVERYONE,
    ("service-detail", "patch"): frozenset({OWN, ADMIN}),
    ("service-detail", "delete"): frozenset({OWN, ADMIN}),
    ("service-variant-list", "get"): EVERYONE,
    ("service-variant-list", "post"): frozenset({OWN, ADMIN}),
    ("service-variant-detail", "get"): EVERYONE,
    ("service-variant-detail", "patch"): frozenset({OWN, ADMIN}),
    ("service-variant-detail", "delete"): frozenset({OWN, ADMIN}),
    ("order-list", "get"): frozenset({CUSTOMER, INACTIVE, OWN, OTHER, ADMIN}),
    # Orders are placed by guests and customers only.
    ("order-list", "post"): frozenset({ANON, CUSTOMER}),
    # A guest order needs its token; the world's order belongs to the customer caller.
    ("order-detail", "get"): frozenset({CUSTOMER, OWN, ADMIN}),
    ("order-cancel", "post"): frozenset({CUSTOMER, ADMIN}),
    ("order-complete", "post"): frozenset({OWN, ADMIN}),
    # The buyer pays (the customer's empty wallet answers 422); vendors and admins never.
    ("order-process-payment", "post"): frozenset({CUSTOMER}),
    # The customer's cash payment: its payer and admins read and withdraw it; only an
    # admin confirms cash. The selling vendor does not see payments.
    ("payment-detail", "get"): frozenset({CUSTOMER, ADMIN}),
    ("payment-withdraw", "post"): frozenset({CUSTOMER, ADMIN}),
    ("payment-confirm", "post"): frozenset({ADMIN}),
    # The gateway's callbacks are public (the gateway's signature decides); JSON is 415,
    # a GET of an unknown transaction 404.
    ("payment-sslcommerz-ipn", "post"): EVERYONE,
    ("payment-sslcommerz-success", "get"): NOBODY,
    ("payment-sslcommerz-success", "post"): EVERYONE,
    ("payment-sslcommerz-fail", "get"): NOBODY,
    ("payment-sslcommerz-fail", "post"): EVERYONE,
    ("payment-sslcommerz-cancel", "get"): NOBODY,
    ("payment-sslcommerz-cancel", "post"): EVERYONE,
    ("order-refund", "post"): frozenset({ADMIN}),
    ("order-refunds", "get"): frozenset({CUSTOMER, OWN, ADMIN}),
    ("refund-detail", "get"): NOBODY,
    # The paid order's invoice (issued, not rendered: 404 invoice_not_ready past the
    # guard) is for the buyer and admins; the selling vendor is refused outright.
    ("order-invoice", "get"): frozenset({CUSTOMER, ADMIN}),
}


def _route_walk(patterns: list[Any], prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _route_walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def api_routes() -> list[tuple[str, str, str]]:
    """(route name, route, method) for every method of every view under ``api/v1/``."""
    found = []
    for route, pattern in _route_walk(get_resolver().url_patterns):
        if route.startswith(SKIPPED_PREFIXES) or not route.startswith(API_PREFIX):
            continue
        view_class = getattr(pattern.callback, "view_class", None)
        assert view_class is not None, f"{route} is not a class-based view"
        assert pattern.name, f"{route} has no name"
        for method in view_class.http_method_names:
            if method in ("options", "head", "trace") or not hasattr(view_class, method):
                continue
            found.append((pattern.name, route, method))
    return found


ROUTES = api_routes()


@dataclass
class World:
    tokens: dict[str, str]
    own: dict[str, str]
    other: dict[str, str]


def _side(vendor: VendorProfile, phone: str, offer_id: str) -> dict[str, str]:
    service = service_make(vendor=vendor)
    variant = variant_make(service=service, price=10_00, stock=10)
    customer = cast(CustomerProfile, CustomerFactory(created_by=vendor.user))
    order = order_place_for_test(lines=[(variant, 1)], customer=customer).order
    credit_request = credit_request_create(vendor_user=vendor.user, amount_minor=100_00)
    phone_number = phone_number_create(actor=vendor.user, number=phone)
    api_key = api_key_create(user=vendor.user, name="matrix").api_key
    subscription = subscription_make(customer, offer_make())
    # A paid order with its invoice (captured as a capture leaves it, without the ledger
    # movements), and a cash payment waiting for an admin on another order.
    paid_order = order_confirm_for_test(
        order_place_for_test(lines=[(variant, 1)], customer=customer).order
    )
    captured = Payment.objects.create(
        order=paid_order,
        method="credit_card",
        gateway="sandbox",
        status=PaymentStatus.CAPTURED,
        amount=paid_order.total,
        currency=paid_order.currency,
        card_last4="4242",
        gateway_reference=f"sbx_{uuid.uuid4().hex[:12]}",
        captured_at=timezone.now(),
    )
    invoice_issue(payment_id=str(captured.pk))
    # One entry on the customer's wallet.
    wallet_entry = customer_fund(customer, 1_00).entries.get(account=customer_wallet(customer))
    cash_order = order_place_for_test(lines=[(variant, 1)], customer=customer).order
    cash = payment_start(
        access=order_get_for_actor(actor=customer.user, order_id=cash_order.pk),
        actor=customer.user,
        request=PaymentRequest("cash"),
    )
    return {
        "vendor_id": str(vendor.pk),
        "service_id": str(service.id),
        "variant_id": str(variant.id),
        "customer_id": str(customer.pk),
        "order_id": str(order.id),
        "credit_request_id": str(credit_request.id),
        "phone_number_id": str(phone_number.id),
        "api_key_id": str(api_key.id),
        "subscription_id": str(subscription.id),
        "offer_id": offer_id,
        "paid_order_id": str(paid_order.pk),
        "payment_id": str(cash.pk),
        "entry_id": str(wallet_entry.pk),
        "customer_user": str(customer.user.pk),
    }


def _world_make() -> World:
    vendor = cast(VendorProfile, VendorFactory())
    other_vendor = cast(VendorProfile, VendorFactory())
    inactive = cast(VendorProfile, VendorFactory(inactive=True))
    offer_id = str(offer_make().id)
    own = _side(vendor, "+14155550101", offer_id)
    other = _side(other_vendor, "+14155550102", offer_id)
    customer_user = User.objects.get(pk=own["customer_user"])
    users: dict[str, User] = {
        CUSTOMER: customer_user,
        PARTNER: cast(User, PartnerFactory().user),
        INACTIVE: inactive.user,
        OWN: vendor.user,
        OTHER: vendor.user,
        ADMIN: cast(User, AdminFactory()),
    }
    tokens = {
        caller: str(RefreshToken.for_user(user).access_token) for caller, user in users.items()
    }
    return World(tokens=tokens, own=own, other=other)


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any) -> Iterator[World]:
    """Built once for the module inside a transaction that is rolled back at the end; each
    cell runs in a savepoint of its own (the ``db`` fixture), so no request sees another's
    writes."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _world_make()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


# Routes that take the paid order (with its invoice and captured payment) as ``order_id``.
PAID_ORDER_ROUTES = frozenset({"order-invoice", "order-refund", "order-refunds"})


def _path(name: str, route: str, params: dict[str, str]) -> str:
    if name in PAID_ORDER_ROUTES:
        params = {**params, "order_id": params["paid_order_id"]}
    path = route
    for converter_and_name in _placeholders(route):
        converter, name = (
            converter_and_name.split(":")
            if ":" in converter_and_name
            else ("str", converter_and_name)
        )
        if name in params:
            value = params[name]
        elif converter == "uuid":
            value = str(uuid.uuid4())
        elif converter == "int":
            value = "2147483000"
        else:
            value = "no-such-reference"
        path = path.replace(f"<{converter_and_name}>", value)
    return "/" + path


def _placeholders(route: str) -> list[str]:
    found = []
    rest = route
    while "<" in rest:
        start = rest.index("<")
        end = rest.index(">", start)
        found.append(rest[start + 1 : end])
        rest = rest[end + 1 :]
    return found


def _let_through(response: Any) -> bool:
    """Not refused: anything but 401, 403 and a 404 ``not_found`` (a 404 with another
    code, such as ``invoice_not_ready``, comes from past the guard)."""
    if response.status_code not in REFUSED:
        return True
    if response.status_code != 404:
        return False
    try:
        code = response.json().get("code")
    except ValueError:
        return False
    return code not in (None, "not_found")


def _cells() -> list[Any]:
    cells = []
    for name, route, method in ROUTES:
        for caller in CALLERS:
            marks = []
            reason = KNOWN_WRONG.get((name, method, caller))
            if reason:
                marks.append(pytest.mark.xfail(strict=True, reason=reason))
            cells.append(
                pytest.param(
                    name,
                    route,
                    method,
                    caller,
                    id=f"{method.upper()} {route} {caller}",
                    marks=marks,
                )
            )
    return cells


# (route name, method, caller) -> why the answer is wrong; such cells are strict xfails.
KNOWN_WRONG: dict[tuple[str, str, str], str] = {}


def test_every_route_has_a_table_entry() -> None:
    routes = {(name, method) for name, _route, method in ROUTES}
    missing = sorted(f"{method.upper()} {name}" for name, method in routes - TABLE.keys())
    stale = sorted(f"{method.upper()} {name}" for name, method in TABLE.keys() - routes)
    assert not missing, f"routes with no authorization table entry: {missing}"
    assert not stale, f"table entries for routes that do not exist: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "route", "method", "caller"), _cells())
def test_authorization_matrix(
    world: World, name: str, route: str, method: str, caller: str
) -> None:
    client = APIClient()
    if caller in world.tokens:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {world.tokens[caller]}")
    params = world.other if caller == OTHER else world.own
    path = _path(name, route, params)
    kwargs: dict[str, Any] = (
        {}
        if method in ("get", "delete")
        else {"data": BODIES.get((name, method), {}), "format": "json"}
    )
    response = getattr(client, method)(path, **kwargs)
    assert response.status_code < 500, (
        f"{method.upper()} {path} as {caller}: {response.status_code}"
    )
    let_through = _let_through(response)
    allowed = TABLE.get((name, method))
    assert allowed is not None, (
        f"no authorization table entry for {method.upper()} {name} ({route})"
    )
    assert let_through == (caller in allowed), (
        f"{method.upper()} {path} as {caller}: {response.status_code}, "
        f"expected {'let through' if caller in allowed else 'refused'}"
    )
