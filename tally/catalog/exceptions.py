"""The catalog's domain errors (rendered as problem details by the platform's handler)."""

from __future__ import annotations

from tally.platform.exceptions import DomainError


class OutOfStockError(DomainError):
    status_code = 422
    code = "out_of_stock"
    title = "Out of stock"
    default_detail = "Not enough units of this variant are left."


class UnknownVariantError(DomainError):
    status_code = 422
    code = "unknown_variant"
    title = "Unknown variant"
    default_detail = "No such variant in the catalog."


class VariantUnavailableError(DomainError):
    status_code = 422
    code = "variant_unavailable"
    title = "Variant unavailable"
    default_detail = "This variant (or its service) is not on sale any more."


class CurrencyMismatchError(DomainError):
    status_code = 422
    code = "currency_mismatch"
    title = "Currency mismatch"
    default_detail = "This variant is priced in another currency than the order."
