"""The offers' Prometheus metrics (served at ``/metrics`` with the rest; in multi-process
mode through ``PROMETHEUS_MULTIPROC_DIR``, like every other ``prometheus_client`` metric).

Counters move only after the transaction that decided the outcome committed
(``transaction.on_commit``), so a rolled-back settle counts nothing.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# succeeded / failed: an activation reached its final state.
ACTIVATIONS = Counter(
    "tally_offer_activations_total", "Offer activations that reached a final state", ["outcome"]
)
# From the request that accepted the activation to its final state.
ACTIVATION_SECONDS = Histogram(
    "tally_offer_activation_seconds",
    "Offer activation latency, request to final state",
    ["outcome"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
# One call to the provisioning provider: activated, rejected, or failed (retried).
PROVIDER_CALL_SECONDS = Histogram(
    "tally_offer_provider_call_seconds",
    "Provisioning provider call latency",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
# Calls that failed transiently (timeout, unreachable, 5xx): each is retried or gives up.
PROVIDER_FAILURES = Counter(
    "tally_offer_provider_failures_total", "Provisioning provider call failures", ["reason"]
)
REMINDERS = Counter(
    "tally_offer_reminders_total", "Subscription expiry reminders sent (one per period)"
)
