"""After a drill: wait until every job has finished, then check the books against what the
clients were answered. Read straight from the drill's database (its own Django connection).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from django.db import connections
from django.db.models import Count, Sum

from drills.workload import (
    CREDIT_REQUEST_MINOR,
    CUSTOMER_CREDIT_MINOR,
    Load,
    World,
)

# Jobs left after the load (a killed worker's claims included) must keep finishing: the wait
# ends when nothing is in flight, and fails when nothing finished for STALL_SECONDS (longer
# than the longest call-out claim, 120 s, so a claim lapsing is not a stall) or past
# QUIET_TIMEOUT_SECONDS in all.
STALL_SECONDS = 180.0
QUIET_TIMEOUT_SECONDS = 900.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Verdict:
    checks: list[Check] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, bool(ok), detail))

    @property
    def anomalies(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def in_flight(world: World, load: Load) -> dict[str, int]:
    """What is still running, by kind: all zero when the drill's work is done."""
    from tally.credit.models import CreditRequest, CustomerCreditOperation
    from tally.invoices.models import Invoice
    from tally.offers.models import Activation
    from tally.orders.models import Order
    from tally.payments.models import Payment
    from tally.platform.outbox.models import OutboxMessage

    customers = [uuid.UUID(c.id) for c in world.customers]
    paid_orders = Order.objects.filter(
        customer_id__in=customers, payments__status="captured"
    ).values("id")
    return {
        "approvals": CreditRequest.objects.filter(id__in=load.ops.approvals)
        .exclude(status="approved")
        .count(),
        "customer_credits": CustomerCreditOperation.objects.filter(
            id__in=load.ops.customer_credits, status="pending"
        ).count(),
        "activations": Activation.objects.filter(
            customer_id__in=customers, status__in=["pending", "processing"]
        ).count(),
        "card_payments": Payment.objects.filter(
            id__in=list(load.ops.card_paid), status__in=["initiated", "authorized"]
        ).count(),
        "invoices": paid_orders.count()
        - Invoice.objects.filter(order_id__in=paid_orders, status="rendered").count(),
        "outbox": OutboxMessage.objects.filter(processed_at__isnull=True).count(),
    }


def wait_quiet(world: World, load: Load, *, timeout: float = QUIET_TIMEOUT_SECONDS) -> float:
    """Seconds until nothing is in flight; ``-1`` when work stalled or ran out of time."""
    started = last_progress = time.monotonic()
    fewest: int | None = None
    while True:
        try:
            left = sum(in_flight(world, load).values())
        except Exception:  # the database may still be coming back
            connections.close_all()
            left = None
        now = time.monotonic()
        if left == 0:
            return now - started
        if left is not None and (fewest is None or left < fewest):
            fewest, last_progress = left, now
        if now - last_progress > STALL_SECONDS or now - started > timeout:
            return -1.0
        time.sleep(1.0)


def books_check(world: World, load: Load, verdict: Verdict, *, seeded_credit: int) -> None:
    from tally.credit.models import CreditRequest, CustomerCreditOperation
    from tally.invoices.models import Invoice
    from tally.ledger.models import Account, Transfer
    from tally.ledger.verification import ledger_verify
    from tally.offers.models import Activation
    from tally.orders.models import Order
    from tally.payments.models import Payment
    from tally.platform.outbox.models import OutboxMessage
    from tally.topups.models import ChargeSale

    connections.close_all()
    ops = load.ops
    vendors = [uuid.UUID(v.id) for v in world.vendors]
    customers = [uuid.UUID(c.id) for c in world.customers]

    report = ledger_verify()
    verdict.check(
        "verify_ledger clean",
        report.ok,
        ", ".join(c.name for c in report.failed) or f"{report.counts.get('entries', 0)} entries",
    )

    # Sales: a row for every 201 and none else (retries with the same key wrote once).
    sales = ChargeSale.objects.filter(vendor_id__in=vendors)
    totals = sales.aggregate(n=Count("id"), minor=Sum("amount"))
    answered = set(ops.sales)
    stored = {str(pk) for pk in sales.values_list("id", flat=True)}
    verdict.check(
        "sale rows == sales answered 201",
        stored == answered,
        f"{len(stored)} rows, {len(answered)} answered; "
        f"{len(stored - answered)} unanswered rows, {len(answered - stored)} missing",
    )

    # Credit requests: each approval credited exactly once.
    approved = CreditRequest.objects.filter(id__in=ops.approvals, status="approved").count()
    credit_transfers = Transfer.objects.filter(
        code="credit_request", credit_account__owner_id__in=vendors
    ).count()
    verdict.check(
        "every approval credited exactly once",
        approved == len(ops.approvals) == credit_transfers,
        f"{len(ops.approvals)} approvals answered 202, {approved} approved, "
        f"{credit_transfers} credit transfers",
    )

    # Customer credits: each accepted operation moved money exactly once.
    succeeded = CustomerCreditOperation.objects.filter(
        id__in=ops.customer_credits, status="succeeded"
    ).count()
    wallet_credits = Transfer.objects.filter(
        code="customer_credit", debit_account__owner_id__in=vendors
    ).count()
    verdict.check(
        "every customer credit applied exactly once",
        succeeded == len(ops.customer_credits) == wallet_credits,
        f"{len(ops.customer_credits)} accepted, {succeeded} succeeded, "
        f"{wallet_credits} wallet transfers",
    )

    # Vendors' credit: seeded + approved - sold - given to customers, to the unit.
    balance = Account.objects.filter(owner_id__in=vendors, kind="vendor_credit").aggregate(
        b=Sum("balance")
    )["b"]
    expected = (
        seeded_credit
        + credit_transfers * CREDIT_REQUEST_MINOR
        - (totals["minor"] or 0)
        - wallet_credits * CUSTOMER_CREDIT_MINOR
    )
    verdict.check(
        "vendors' credit == seeded + approved - sold - credited",
        balance == expected,
        f"{balance} vs {expected}",
    )

    # Offer activations: every one final, each success debited once, no reservation left.
    activations = Activation.objects.filter(customer_id__in=customers)
    final = dict(activations.values_list("status").annotate(n=Count("id")).order_by())
    posts = Transfer.objects.filter(
        kind="post_pending",
        code="offer_activation",
        debit_account__owner_id__in=customers,
    ).count()
    pending = Account.objects.filter(owner_id__in=customers, kind="customer_wallet").aggregate(
        p=Sum("pending_debits")
    )["p"]
    verdict.check(
        "every activation final, each success debited once, nothing reserved",
        activations.count() == len(ops.activations)
        and final.get("succeeded", 0) == posts
        and not pending,
        f"{len(ops.activations)} accepted, {final}, {posts} debits, {pending} still reserved",
    )

    # Card payments: each one the buyer paid captured once; one captured payment per order.
    paid = Payment.objects.filter(id__in=list(ops.card_paid))
    captured = paid.filter(status="captured").count()
    doubles = (
        Payment.objects.filter(order__customer_id__in=customers, status="captured")
        .values("order_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    verdict.check(
        "every card payment paid at the gateway captured once",
        captured == len(ops.card_paid) and doubles == 0,
        f"{len(ops.card_paid)} paid at the gateway, {captured} captured, "
        f"{doubles} orders captured twice; {len(ops.card_payments)} card checkouts",
    )
    verdict.check(
        "every card checkout got its gateway page and was paid",
        len(ops.card_paid) == len(ops.card_payments),
        f"{len(ops.card_paid)} of {len(ops.card_payments)}",
    )
    wallet_paid = Payment.objects.filter(
        order_id__in=ops.wallet_orders, method="wallet", status="captured"
    ).count()
    verdict.check(
        "every wallet payment answered 201 captured",
        wallet_paid == len(ops.wallet_orders),
        f"{wallet_paid} of {len(ops.wallet_orders)}",
    )

    # Invoices: exactly one per paid order, rendered.
    paid_orders = Order.objects.filter(customer_id__in=customers, payments__status="captured")
    invoices = Invoice.objects.filter(order__in=paid_orders)
    verdict.check(
        "one rendered invoice per paid order",
        invoices.count() == invoices.filter(status="rendered").count() == paid_orders.count(),
        f"{paid_orders.count()} paid orders, {invoices.count()} invoices, "
        f"{invoices.filter(status='rendered').count()} rendered",
    )

    gave_up = OutboxMessage.objects.filter(failed_at__isnull=False).count()
    verdict.check("no job gave up", gave_up == 0, f"{gave_up} jobs gave up")
    unsettled = sum(ops.unsettled.values())
    verdict.check(
        "every request got a final answer",
        unsettled == 0,
        f"{unsettled} without one: {dict(ops.unsettled)}" if unsettled else "",
    )
