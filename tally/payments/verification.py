"""The payments' rules about the books, run by ``verify_ledger`` with the ledger's own checks
(registered in ``PaymentsConfig.ready``).

- ``payments_settled``: a captured (or refunded) payment's settlement transfers add up to
  its amount; any other payment has none.
- ``payments_refunds_recorded``: a payment's ``refunded_amount`` is the sum of its refunds
  that did not fail, and never more than its amount.
- ``payments_clearing_balanced``: each card, cash and bank-transfer clearing account's posted
  balance is minus what its payments captured plus what was refunded through them
  (captured minus settled with the gateway, as a debt); the wallet's clearing nets to zero.
"""

from __future__ import annotations

from tally.ledger.verification import Check
from tally.payments.ledger_vocabulary import ORDER_SETTLEMENT
from tally.payments.models import CAPTURED_STATES, RefundDestination, RefundStatus

_CAPTURED = ", ".join(f"'{state}'" for state in CAPTURED_STATES)

PAYMENT_CHECKS = (
    Check(
        name="payments_settled",
        description=(
            "a captured payment's settlement transfers add up to its amount; "
            "a payment never captured has none"
        ),
        sql=f"""
            SELECT p.id AS payment_id, p.status, p.amount, coalesce(s.settled, 0) AS settled
              FROM payments_payment AS p
              LEFT JOIN (SELECT reference, sum(amount) AS settled
                           FROM ledger_transfer
                          WHERE code = '{ORDER_SETTLEMENT}'
                          GROUP BY reference) AS s
                ON s.reference = 'payment:' || p.id::text
             WHERE (p.status IN ({_CAPTURED}) AND coalesce(s.settled, 0) <> p.amount)
                OR (p.status NOT IN ({_CAPTURED}) AND coalesce(s.settled, 0) <> 0)
        """,  # noqa: S608  # nosec B608  # constants only
    ),
    Check(
        name="payments_refunds_recorded",
        description=(
            "a payment's refunded amount is the sum of its refunds that did not fail, "
            "and at most its amount"
        ),
        sql=f"""
            SELECT p.id AS payment_id, p.amount, p.refunded_amount, coalesce(r.total, 0) AS refunds
              FROM payments_payment AS p
              LEFT JOIN (SELECT payment_id, sum(amount) AS total
                           FROM payments_refund
                          WHERE status <> '{RefundStatus.FAILED}'
                          GROUP BY payment_id) AS r
                ON r.payment_id = p.id
             WHERE p.refunded_amount <> coalesce(r.total, 0) OR p.refunded_amount > p.amount
        """,  # noqa: S608  # nosec B608  # constants only
    ),
    Check(
        name="payments_clearing_balanced",
        description=(
            "each gateway's clearing account is minus what it captured plus what was refunded "
            "through it; the wallet's clearing is zero"
        ),
        sql=f"""
            WITH expected AS (
                SELECT 'clearing_' || p.gateway AS kind, p.currency,
                       sum(CASE WHEN p.gateway = 'wallet' THEN 0
                                WHEN p.status IN ({_CAPTURED}) THEN -p.amount ELSE 0 END)
                       + coalesce(sum(CASE WHEN p.gateway = 'wallet' THEN 0
                                           ELSE r.refunded END), 0) AS balance
                  FROM payments_payment AS p
                  LEFT JOIN (SELECT payment_id, sum(amount) AS refunded
                               FROM payments_refund
                              WHERE status = '{RefundStatus.SUCCEEDED}'
                                AND destination = '{RefundDestination.ORIGINAL}'
                              GROUP BY payment_id) AS r
                    ON r.payment_id = p.id
                 GROUP BY 1, 2
            ),
            actual AS (
                SELECT a.kind, a.currency,
                       coalesce(sum(CASE WHEN t.credit_account_id = a.id THEN t.amount
                                         ELSE -t.amount END), 0) AS balance
                  FROM ledger_account AS a
                  JOIN ledger_transfer AS t
                    ON (t.credit_account_id = a.id OR t.debit_account_id = a.id)
                   AND t.kind IN ('immediate', 'post_pending')
                 WHERE a.kind LIKE 'clearing\\_%%' AND a.owner_id IS NULL
                 GROUP BY a.kind, a.currency
            )
            SELECT coalesce(e.kind, x.kind) AS kind, coalesce(e.currency, x.currency) AS currency,
                   coalesce(e.balance, 0) AS expected, coalesce(x.balance, 0) AS actual
              FROM expected AS e
              FULL JOIN actual AS x ON x.kind = e.kind AND x.currency = e.currency
             WHERE coalesce(e.balance, 0) <> coalesce(x.balance, 0)
        """,  # noqa: S608  # nosec B608  # constants only
    ),
)
