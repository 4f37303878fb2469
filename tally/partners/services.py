"""Partner writes: a partner buys an offer for a customer under its own reference."""

from __future__ import annotations

import re
from uuid import UUID

from tally.identity.models import PartnerProfile
from tally.offers.models import Activation, ActivationSource
from tally.offers.selectors import offer_get_for_purchase
from tally.offers.services import activation_create
from tally.partners.exceptions import (
    CustomerChoiceError,
    CustomerPhoneInvalidError,
    PartnerReferenceInvalidError,
)
from tally.partners.selectors import customer_get_for_partner
from tally.platform.phones import InvalidPhoneNumberError, phone_normalize

PARTNER_REFERENCE_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")
# E.164: a plus, then 8 to 15 digits, the first not 0.
E164_PATTERN = re.compile(r"\+[1-9][0-9]{7,14}")


def partner_reference_validate(reference: str) -> str:
    """``reference`` if it is 1-64 letters, digits, '.', '_' or '-'; else
    PartnerReferenceInvalidError."""
    if not PARTNER_REFERENCE_PATTERN.fullmatch(reference):
        raise PartnerReferenceInvalidError()
    return reference


def customer_phone_validate(phone: str) -> str:
    """``phone`` if it is written in E.164 and is a valid number; else
    CustomerPhoneInvalidError (no other notation is accepted from a partner)."""
    if not E164_PATTERN.fullmatch(phone):
        raise CustomerPhoneInvalidError()
    try:
        normalized = phone_normalize(phone)
    except InvalidPhoneNumberError as exc:
        raise CustomerPhoneInvalidError() from exc
    if normalized != phone:
        raise CustomerPhoneInvalidError()
    return phone


def partner_activation_create(
    *,
    partner: PartnerProfile,
    offer_id: UUID,
    reference: str,
    customer_id: UUID | None = None,
    customer_phone: str | None = None,
) -> Activation:
    """Buy the offer ``offer_id`` for a customer (by id or E.164 phone) as ``partner``,
    under the partner's ``reference``.

    Guarantees: the input is checked before anything is read or written (a reference of
    1-64 ``[A-Za-z0-9._-]``, exactly one of the customer's id and phone, the phone in
    E.164); then ``tally.offers.services.activation_create`` runs as one use case with
    ``source=partner``: the price is reserved on the customer's wallet and the activation
    enqueued, or nothing is written. A repeat of the same reference with the same customer
    and offer returns the first activation (however many race); the same reference with
    another body raises PartnerReferenceReusedError. Unknown customer or offer: NotFoundError.

    Locks and enqueues what ``activation_create`` does (the customer's wallet row; the
    provisioning job). When the activation finishes, its settle step enqueues the signed
    callback (``tally.partners.callbacks.activation_callback_enqueue``).
    """
    partner_reference_validate(reference)
    if (customer_id is None) == (customer_phone is None):
        raise CustomerChoiceError()
    if customer_phone is not None:
        customer_phone_validate(customer_phone)
    customer = customer_get_for_partner(customer_id=customer_id, phone=customer_phone)
    offer = offer_get_for_purchase(offer_id=offer_id)
    return activation_create(
        customer=customer,
        offer=offer,
        source=ActivationSource.PARTNER,
        partner=partner,
        partner_reference=reference,
    )
