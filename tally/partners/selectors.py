"""Partner reads: the customer a partner names, and the partner's own activations."""

from __future__ import annotations

from uuid import UUID

from tally.identity.models import CustomerProfile, PartnerProfile
from tally.offers.models import Activation
from tally.offers.selectors import activation_get_by_partner_reference
from tally.platform.exceptions import NotFoundError


def customer_get_for_partner(
    *, customer_id: UUID | None = None, phone: str | None = None
) -> CustomerProfile:
    """The customer a partner sells to, by id or by exact E.164 phone; NotFoundError
    otherwise. A partner learns nothing about the customer beyond its id (the activation
    shows no personal details)."""
    customers = CustomerProfile.objects.select_related("user")
    found = (
        customers.filter(pk=customer_id).first()
        if customer_id is not None
        else customers.filter(phone=phone).first()
    )
    if found is None:
        raise NotFoundError("No customer matches.")
    return found


def partner_activation_get(*, partner: PartnerProfile, reference: str) -> Activation:
    """The activation ``partner`` started under its own ``reference``; NotFoundError for a
    reference it never used (another partner's reference included)."""
    return activation_get_by_partner_reference(partner=partner, reference=reference)
