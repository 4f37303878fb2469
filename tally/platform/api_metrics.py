"""Prometheus counters of the API's own refusals and replays (served at ``/metrics``; in
multi-process mode through ``PROMETHEUS_MULTIPROC_DIR``, like every other metric).

Both count answers, not committed facts: a replay and a rate-limit refusal write nothing,
so they are counted where they are decided, one increment each, and only on that path.
"""

from __future__ import annotations

from prometheus_client import Counter

# A stored response answered again for the same Idempotency-Key and body.
IDEMPOTENT_REPLAYS = Counter(
    "tally_idempotent_replays_total",
    "Requests answered with the stored response of an earlier one (same Idempotency-Key).",
)
# A request over its caller's limit for the route class (money, write, read, login, …).
RATE_LIMITED = Counter(
    "tally_rate_limited_total",
    "Requests refused with 429 rate_limited, by route class.",
    ["route_class"],
)
