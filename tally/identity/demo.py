"""Demo accounts for development: fixed, documented credentials. Never loaded in production."""

from __future__ import annotations

from tally.identity import services as identity
from tally.identity.models import Role, User, VendorProfile
from tally.platform.db import use_case
from tally.platform.demo import DEMO_PASSWORD, DemoAccount

DEMO_ACCOUNTS = [
    DemoAccount("admin@tally.local", "admin", "admin (Django admin and API)"),
    DemoAccount(
        "checker@tally.local",
        "admin",
        "second admin, for credit requests that need two approvals",
    ),
    DemoAccount("vendor1@tally.local", "vendor", "active vendor 'Demo Mobile'"),
    DemoAccount("vendor2@tally.local", "vendor", "active vendor 'Corner Shop'"),
    DemoAccount("vendor3@tally.local", "vendor", "inactive vendor 'Pending Traders'"),
    DemoAccount("customer1@tally.local", "customer", "customer +14155550101"),
    DemoAccount("customer2@tally.local", "customer", "customer +14155550102"),
    DemoAccount("partner@tally.local", "partner", "partner 'Demo Partner'"),
]


@use_case
def demo_data_load() -> list[DemoAccount]:
    """Create the demo accounts that don't exist yet; safe to run any number of times."""
    admin = User.objects.filter(email="admin@tally.local").first()
    if admin is None:
        admin = User.objects.create_superuser(
            "admin@tally.local", DEMO_PASSWORD, full_name="Demo Admin"
        )

    # Credit requests above CREDIT_SECOND_APPROVAL_ABOVE_MINOR need two different admins.
    if not User.objects.filter(email="checker@tally.local").exists():
        User.objects.create_superuser(
            "checker@tally.local", DEMO_PASSWORD, full_name="Demo Checker"
        )

    vendors = [
        ("vendor1@tally.local", "Demo Mobile", True),
        ("vendor2@tally.local", "Corner Shop", True),
        ("vendor3@tally.local", "Pending Traders", False),
    ]
    for email, business_name, active in vendors:
        if not User.objects.filter(email=email).exists():
            vendor = identity.vendor_create(
                actor=admin, email=email, password=DEMO_PASSWORD, business_name=business_name
            )
            if not active:
                identity.vendor_deactivate(actor=admin, vendor=vendor)

    for email, phone, name in [
        ("customer1@tally.local", "+14155550101", "Ada Customer"),
        ("customer2@tally.local", "+14155550102", "Grace Customer"),
    ]:
        if not User.objects.filter(email=email).exists():
            identity.customer_create(
                actor=admin, email=email, phone=phone, full_name=name, password=DEMO_PASSWORD
            )

    if not User.objects.filter(email="partner@tally.local").exists():
        identity.partner_create(
            actor=admin,
            email="partner@tally.local",
            password=DEMO_PASSWORD,
            name="Demo Partner",
            callback_url="http://127.0.0.1:9999/callbacks/tally",
        )
    assert VendorProfile.objects.filter(user__email__endswith="@tally.local").count() >= len(
        vendors
    )
    assert admin.role == Role.ADMIN
    return DEMO_ACCOUNTS
