from __future__ import annotations

import factory

from tally.identity.tests.factories import VendorFactory
from tally.topups.models import PhoneNumber


class PhoneNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    number = factory.Sequence(lambda n: f"+1415666{n:04d}")
    label = ""
    # Registered by an active vendor (a sale or phone-numbers/ registers it).
    created_by = factory.LazyFunction(lambda: VendorFactory().user)
