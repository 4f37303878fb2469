"""Celery: Redis (or RabbitMQ) broker, late acks, idempotent tasks fed by the outbox."""

from __future__ import annotations

from config.env import env

_REDIS_URL = env.str("REDIS_URL", default="")

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# A task is acknowledged only after it ran; a worker killed mid-task gets it redelivered,
# which is safe because every task is idempotent (keyed by its outbox id).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="tally")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TIMEZONE = "UTC"

OUTBOX_SWEEP_INTERVAL_SECONDS = env.int("OUTBOX_SWEEP_INTERVAL_SECONDS", default=30)
# A message still unpublished this long after commit is re-published by the sweeper.
OUTBOX_REPUBLISH_AFTER_SECONDS = env.int("OUTBOX_REPUBLISH_AFTER_SECONDS", default=60)
# How often the offers' expiry / auto-renewal and reminder jobs run (both safe to repeat).
OFFERS_BEAT_INTERVAL_SECONDS = env.int("OFFERS_BEAT_INTERVAL_SECONDS", default=300)
ORDER_EXPIRE_INTERVAL_SECONDS = env.int("ORDER_EXPIRE_INTERVAL_SECONDS", default=60)
# How often beat runs verify_ledger's checks for /metrics (tally_ledger_verify_mismatches).
LEDGER_VERIFY_INTERVAL_SECONDS = env.int("LEDGER_VERIFY_INTERVAL_SECONDS", default=3600)

CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "tally.platform.outbox.tasks.outbox_sweep",
        "schedule": float(OUTBOX_SWEEP_INTERVAL_SECONDS),
    },
    "outbox-callout-reconcile": {
        "task": "tally.platform.outbox.tasks.outbox_callout_reconcile",
        "schedule": float(OUTBOX_SWEEP_INTERVAL_SECONDS),
    },
    "idempotency-purge": {
        "task": "tally.platform.idempotency.tasks.idempotency_purge",
        "schedule": 3600.0,
    },
    "ledger-expire-overdue": {"task": "tally.ledger.tasks.ledger_expire_overdue", "schedule": 30.0},
    "ledger-roll-up": {"task": "tally.ledger.tasks.ledger_roll_up", "schedule": 60.0},
    "ledger-verify": {
        "task": "tally.ledger.verification_periodic.ledger_verify_periodic",
        "schedule": float(LEDGER_VERIFY_INTERVAL_SECONDS),
    },
    "offers-subscription-expire-due": {
        "task": "tally.offers.tasks.subscription_expire_due",
        "schedule": float(OFFERS_BEAT_INTERVAL_SECONDS),
    },
    "orders-expire-unpaid": {
        "task": "tally.orders.tasks.order_expire_unpaid",
        "schedule": float(ORDER_EXPIRE_INTERVAL_SECONDS),
    },
    "payments-reconcile": {
        "task": "tally.payments.tasks.payment_reconcile",
        "schedule": float(ORDER_EXPIRE_INTERVAL_SECONDS),
    },
    "offers-subscription-remind-expiring": {
        "task": "tally.offers.tasks.subscription_remind_expiring",
        "schedule": float(OFFERS_BEAT_INTERVAL_SECONDS),
    },
}
