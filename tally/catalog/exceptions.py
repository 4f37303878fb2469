"""The catalog's domain errors (rendered as problem details by the platform's handler)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tally.identity.exceptions import FieldInvalidError
from tally.platform.exceptions import ConflictError, DomainError


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


class SkuTakenError(ConflictError):
    """Another variant of the same service already has this sku (a unique constraint)."""

    code = "sku_taken"
    title = "SKU taken"
    default_detail = "Another variant of this service already has this sku."


class CatalogFieldsInvalidError(FieldInvalidError):
    """Fields a caller of the services (not the API's serializers) got wrong: rendered like
    the serializers' ``validation_error``, with one ``errors`` item per problem."""

    def __init__(self, problems: Mapping[str, Sequence[str]]) -> None:
        errors = [
            {"field": name, "code": "invalid", "detail": message}
            for name, messages in problems.items()
            for message in messages
        ]
        DomainError.__init__(
            self, "; ".join(f"{e['field']}: {e['detail']}" for e in errors[:5]), errors=errors
        )
