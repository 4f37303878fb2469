"""The orders' domain errors (rendered as problem details by the platform's handler).

Stock, unknown-variant, unavailable-variant and currency errors come from
``tally.catalog.exceptions``; an inactive vendor's service from ``tally.identity``.
"""

from __future__ import annotations

from tally.platform.exceptions import DomainError


class QuantityAboveLimitError(DomainError):
    status_code = 400
    code = "quantity_above_limit"
    title = "Quantity above the limit"
    default_detail = "One order may hold at most the configured quantity of a variant."


class GuestContactRequiredError(DomainError):
    status_code = 400
    code = "guest_contact_required"
    title = "Guest contact required"
    default_detail = "A guest order needs an email address and a name."
