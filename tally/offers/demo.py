"""Demo offers: a small catalog, and the demo customers' wallets funded by the demo vendor
'Demo Mobile' through the ledger, so a purchase works right after `make run`."""

from __future__ import annotations

from tally.credit.ledger_vocabulary import CUSTOMER_CREDIT, CUSTOMER_WALLET, VENDOR_PREPAID
from tally.identity.models import CustomerProfile, User
from tally.ledger import selectors as ledger_selectors
from tally.ledger import services as ledger
from tally.offers.catalog import OfferDraft, offer_create
from tally.offers.models import Offer, OfferKind
from tally.platform.db import use_case
from tally.platform.demo import DemoAccount

DEMO_OFFERS = (
    OfferDraft(
        name="Internet 5 GB", kind=OfferKind.INTERNET, price=9_99, validity_days=30, data_mb=5_000
    ),
    OfferDraft(
        name="Internet 50 GB",
        kind=OfferKind.INTERNET,
        price=29_99,
        validity_days=30,
        data_mb=50_000,
    ),
    OfferDraft(name="TV Basic", kind=OfferKind.TV, price=14_99, validity_days=30, tv_channels=60),
    OfferDraft(
        name="Talk 300",
        kind=OfferKind.VOICE,
        price=4_99,
        validity_days=30,
        voice_minutes=300,
        sms=100,
    ),
    OfferDraft(
        name="Home Bundle",
        kind=OfferKind.BUNDLE,
        price=49_99,
        validity_days=30,
        data_mb=100_000,
        voice_minutes=1_000,
        tv_channels=120,
    ),
)
DEMO_WALLET_MINOR = {"customer1@tally.local": 100_00, "customer2@tally.local": 20_00}


@use_case
def demo_data_load() -> list[DemoAccount]:
    admin = User.objects.get(email="admin@tally.local")
    for draft in DEMO_OFFERS:
        if not Offer.objects.filter(name=draft.name).exists():
            offer_create(actor=admin, draft=draft)
    vendor = User.objects.get(email="vendor1@tally.local")
    for email, amount_minor in DEMO_WALLET_MINOR.items():
        customer = CustomerProfile.objects.get(user__email=email)
        if ledger_selectors.account_find(owner_id=customer.user_id, kind=CUSTOMER_WALLET):
            continue
        # What a completed vendor → customer wallet credit moves (credit's customer_credit).
        ledger.transfer_create(
            debit_account=ledger.account_get_or_create(owner=vendor, kind=VENDOR_PREPAID),
            credit_account=ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET),
            amount_minor=amount_minor,
            code=CUSTOMER_CREDIT,
            reference="demo data",
        )
    return []
