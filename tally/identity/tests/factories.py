from __future__ import annotations

from typing import Any

import factory
from django.utils import timezone

from tally.identity.models import CustomerProfile, PartnerProfile, Role, User, VendorProfile

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    role = Role.CUSTOMER
    full_name = factory.Faker("name")

    @factory.post_generation
    def password(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        self.set_password(extracted or PASSWORD)
        if create:
            self.save(update_fields=["password"])


class AdminFactory(UserFactory):
    role = Role.ADMIN
    is_staff = True
    is_superuser = True


class VendorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VendorProfile

    class Params:
        # A vendor that signed itself up and that no admin has activated yet.
        inactive = factory.Trait(is_active=False, activated_at=None)

    user = factory.SubFactory(UserFactory, role=Role.VENDOR)
    business_name = factory.Sequence(lambda n: f"Vendor {n}")
    is_active = True
    activated_at = factory.LazyFunction(timezone.now)


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerProfile

    user = factory.SubFactory(UserFactory, role=Role.CUSTOMER)
    phone = factory.Sequence(lambda n: f"+1415555{n:04d}")
    # Null: the customer signed up on its own. Pass a vendor's or admin's user otherwise.
    created_by = None


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerProfile

    user = factory.SubFactory(UserFactory, role=Role.PARTNER)
    name = factory.Sequence(lambda n: f"Partner {n}")
    signing_secret = "partner-signing-secret"
