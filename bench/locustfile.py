"""Explore Tally's load interactively with Locust (the measured runs use ``make bench``).

    TALLY_VENDOR_ID=<vendor uuid> TALLY_API_KEY=<tly_… key> \\
        .venv/bin/locust -f bench/locustfile.py --host http://127.0.0.1:8000

then open http://127.0.0.1:8089, pick a number of users and watch. Each user is one
integrator of that vendor: it sells 1.00 charges (with an Idempotency-Key, as integrators
should), reads the balance and the first statement page, in the proportions of the bench's
``mixed`` scenario. Every sale spends real credit: give the vendor enough first
(``POST /api/v1/vendors/{id}/credit/`` as an admin), and expect 422 ``insufficient_funds``
once it runs out. Rate limits apply to Locust as to anyone (``RATE_LIMIT_MONEY``…).
"""

from __future__ import annotations

import os
import random
import uuid

from locust import HttpUser, between, task

VENDOR_ID = os.environ.get("TALLY_VENDOR_ID", "")
API_KEY = os.environ.get("TALLY_API_KEY", "")


class Integrator(HttpUser):
    wait_time = between(0.0, 0.1)

    def on_start(self) -> None:
        if not (VENDOR_ID and API_KEY):
            raise RuntimeError("set TALLY_VENDOR_ID and TALLY_API_KEY")
        self.client.headers["Authorization"] = f"Api-Key {API_KEY}"

    @task(70)
    def sell(self) -> None:
        with self.client.post(
            f"/api/v1/vendors/{VENDOR_ID}/charges/",
            json={"phone_number": f"+1650253{random.randrange(10_000):04d}", "amount": "1.00"},
            headers={"Idempotency-Key": str(uuid.uuid4())},
            name="POST charges",
            catch_response=True,
        ) as response:
            # Running out of credit is the books working, not an error of the server.
            if response.status_code == 422:
                response.success()

    @task(20)
    def balance(self) -> None:
        self.client.get(f"/api/v1/vendors/{VENDOR_ID}/balance/", name="GET balance")

    @task(5)
    def history(self) -> None:
        self.client.get(f"/api/v1/vendors/{VENDOR_ID}/transactions/", name="GET transactions")
