"""Prometheus metrics of the catalog's stock (served at /metrics)."""

from prometheus_client import Counter

STOCK_REFUSALS = Counter(
    "tally_stock_reservations_refused_total",
    "Order lines refused for want of stock, by who refused them "
    "(counter: the Redis counter, before the database; database: PostgreSQL).",
    ["by"],
)
STOCK_COUNTER_REBUILDS = Counter(
    "tally_stock_counter_rebuilds_total",
    "Redis stock counters rebuilt from the database (missing, expired or dropped).",
)
STOCK_COUNTER_UNAVAILABLE = Counter(
    "tally_stock_counter_unavailable_total",
    "Stock counter operations that found Redis unreachable (the database decided alone).",
    ["action"],
)
