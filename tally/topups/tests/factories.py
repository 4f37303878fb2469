from __future__ import annotations

import factory

from tally.identity.models import Role
from tally.identity.tests.factories import UserFactory
from tally.topups.models import PhoneNumber


class PhoneNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PhoneNumber

    number = factory.Sequence(lambda n: f"+1415666{n:04d}")
    label = ""
    created_by = factory.SubFactory(UserFactory, role=Role.VENDOR)
