"""Demo catalog: the active demo vendors sell a few services, each in two or three variants.

Stock covers every case a buyer meets: limited units (most variants), unlimited (``ENG-DIAG``)
and sold out (``ENG-BELT``, 0 units). Created through the catalog services, as the vendors
themselves would (audit rows included); a service or variant that exists already (same
vendor and title, same service and sku) is left as it is, so loading twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from tally.catalog.models import Service, Variant
from tally.catalog.services import ServiceDraft, VariantDraft, service_create, variant_create
from tally.identity.models import VendorProfile
from tally.platform.db import use_case
from tally.platform.demo import DemoAccount


@dataclass(frozen=True)
class DemoService:
    vendor_email: str
    draft: ServiceDraft
    variants: tuple[VariantDraft, ...]


DEMO_SERVICES = (
    DemoService(
        "vendor1@tally.local",
        ServiceDraft(
            title="Engine repair",
            category="car-repair",
            description="Diagnosis and repair of petrol and diesel engines, at your address.",
        ),
        (
            VariantDraft(name="Diagnosis", sku="ENG-DIAG", price=49_00, stock=None),
            VariantDraft(name="Full service", sku="ENG-FULL", price=249_00, stock=10),
            VariantDraft(name="Timing belt replacement", sku="ENG-BELT", price=399_00, stock=0),
        ),
    ),
    DemoService(
        "vendor1@tally.local",
        ServiceDraft(
            title="Home deep clean",
            category="cleaning",
            description="Kitchen, bathrooms, floors and windows, products included.",
        ),
        (
            VariantDraft(name="Studio", sku="CLEAN-STUDIO", price=89_00, stock=25),
            VariantDraft(name="Two bedrooms", sku="CLEAN-2BED", price=149_00, stock=10),
            VariantDraft(name="Family house", sku="CLEAN-HOUSE", price=229_00, stock=3),
        ),
    ),
    DemoService(
        "vendor2@tally.local",
        ServiceDraft(
            title="Plumbing call-out",
            category="plumbing",
            description="Leaks, blocked drains and boiler checks by a licensed plumber.",
        ),
        (
            VariantDraft(name="First hour", sku="PLUMB-HOUR", price=65_00, stock=30),
            VariantDraft(name="Boiler service", sku="PLUMB-BOILER", price=120_00, stock=8),
        ),
    ),
    DemoService(
        "vendor2@tally.local",
        ServiceDraft(
            title="Window cleaning",
            category="cleaning",
            description="Inside and out, frames and sills included.",
        ),
        (
            VariantDraft(name="Up to 10 windows", sku="WIN-10", price=35_00, stock=50),
            VariantDraft(name="Up to 25 windows", sku="WIN-25", price=70_00, stock=20),
        ),
    ),
)


@use_case
def demo_data_load() -> list[DemoAccount]:
    for demo in DEMO_SERVICES:
        vendor = VendorProfile.objects.select_related("user").get(user__email=demo.vendor_email)
        service = Service.objects.filter(vendor=vendor, title=demo.draft.title).first()
        if service is None:
            service = service_create(actor=vendor.user, draft=demo.draft)
        for draft in demo.variants:
            if not Variant.objects.filter(service=service, sku=draft.sku).exists():
                variant_create(actor=vendor.user, service=service, draft=draft)
    return []
