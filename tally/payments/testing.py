"""Test helpers for payments: where a payment's money went, read from the ledger."""

from __future__ import annotations

from collections import defaultdict

from tally.ledger.models import Transfer
from tally.payments.ledger_vocabulary import ORDER_SETTLEMENT
from tally.payments.models import Payment


def payment_split_of(payment: Payment) -> dict[str, int]:
    """The payment's settlement by credited account: ``vendor:<user id>`` for each vendor's
    earnings, ``platform_commission``, ``tax_collected`` (minor units)."""
    split: dict[str, int] = defaultdict(int)
    transfers = Transfer.objects.filter(
        reference=f"payment:{payment.pk}", code=ORDER_SETTLEMENT
    ).select_related("credit_account")
    for transfer in transfers:
        account = transfer.credit_account
        name = f"vendor:{account.owner_id}" if account.owner_id else account.kind
        split[name] += transfer.amount
    return dict(split)
