"""Row locks of the credit app: the only place credit writes ``select_for_update``.

Each helper locks only its own table's rows (``of=("self",)``): locking across the join
would also lock the vendor's profile and user rows, which every sale's foreign-key check
takes ``FOR KEY SHARE`` at commit, while the credit job waits for that sale's account row —
a deadlock (tally/credit/tests/test_credit_and_sales_concurrency.py). Several rows are
locked in primary-key order.
"""

from __future__ import annotations

from uuid import UUID

from tally.credit.models import CreditRequest, CustomerCreditOperation


def credit_request_lock(*, credit_request_id: UUID | str) -> CreditRequest:
    """Lock one credit request row (its vendor and user are loaded, not locked)."""
    return (
        CreditRequest.objects.select_for_update(of=("self",))
        .select_related("vendor__user")
        .get(pk=credit_request_id)
    )


def customer_credit_operation_lock(*, operation_id: UUID | str) -> CustomerCreditOperation:
    """Lock one vendor → customer credit operation row (vendor and customer loaded, not locked)."""
    return (
        CustomerCreditOperation.objects.select_for_update(of=("self",))
        .select_related("vendor__user", "customer__user")
        .get(pk=operation_id)
    )
