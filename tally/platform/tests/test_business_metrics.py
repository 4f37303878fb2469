"""Business metrics after real traffic: a scripted run through the API (a sale, a refused
sale, a replayed Idempotency-Key, a rate-limited request, a credit request approved and
credited by a real Celery worker), then ``/metrics`` (and a worker process's own endpoint)
scraped and every business metric asserted with its labels and values.

Counters in this process are shared by every test of the run, so the in-process tests
assert what a run added (after minus before); the worker-process test reads a fresh process.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from celery import shared_task
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.models import Account
from tally.ledger.verification_periodic import ledger_verify_periodic, verification_verdict_latest
from tally.payments.models import Payment
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.live_server import celery_worker_run, free_port
from tally.platform.testing.race import wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

NUMBER = "+14155550123"


def parse(text: str) -> Samples:
    """Every sample of a Prometheus exposition, by (sample name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape() -> Samples:
    response = Client().get("/metrics")
    assert response.status_code == 200
    return parse(response.content.decode())


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def added(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


def wait_for_status(credit_request: CreditRequest, status: str) -> None:
    def reached() -> bool:
        credit_request.refresh_from_db()
        return credit_request.status == status

    wait_until(reached, message=f"credit request never became {status}")


def verdict_forget() -> None:
    from django_redis import get_redis_connection

    from tally.ledger.verification_periodic import _key

    get_redis_connection("default").delete(_key())


def sell(client: APIClient, vendor: VendorProfile, amount: str, **headers: str) -> Any:
    return client.generic(
        "POST",
        f"/api/v1/vendors/{vendor.user_id}/charges/",
        json.dumps({"phone_number": NUMBER, "amount": amount}),
        content_type="application/json",
        headers=headers,
    )


# --- the scripted run, scraped from /metrics --------------------------------------------


def test_traffic_moves_every_business_metric_with_its_labels(
    celery_worker: Any, settings: Any
) -> None:
    # given: limits on for reads only (one a minute), so the second balance read is refused
    settings.TALLY_RATE_LIMITS = {**settings.TALLY_RATE_LIMITS, "read": "1/min"}
    vendor = VendorFactory()
    seller = authenticate(APIClient(), vendor.user)
    admin = authenticate(APIClient(), AdminFactory())
    verdict_forget()
    started = time.time()
    before = scrape()

    # when: a credit request, approved and credited by the worker
    created = seller.post("/api/v1/credit-requests/", {"amount": "100.00"})
    assert created.status_code == 201, created.content
    approved = admin.post(f"/api/v1/credit-requests/{created.json()['id']}/approve/")
    assert approved.status_code == 202
    wait_for_status(
        CreditRequest.objects.get(pk=created.json()["id"]), CreditRequestStatus.APPROVED
    )
    # and a sale, the same sale replayed by its Idempotency-Key, a sale refused for want of
    # funds, and a read over its limit
    sale = sell(seller, vendor, "30.00", **{"Idempotency-Key": "metrics-sale-1"})
    assert sale.status_code == 201, sale.content
    replay = sell(seller, vendor, "30.00", **{"Idempotency-Key": "metrics-sale-1"})
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (201, "true")
    refused = sell(seller, vendor, "500.00")
    assert (refused.status_code, refused.json()["code"]) == (422, "insufficient_funds")
    assert seller.get(f"/api/v1/vendors/{vendor.user_id}/balance/").status_code == 200
    limited = seller.get(f"/api/v1/vendors/{vendor.user_id}/balance/")
    assert (limited.status_code, limited.json()["code"]) == (429, "rate_limited")
    # and the periodic verification, run by the worker as beat would
    ledger_verify_periodic.delay()
    wait_until(verification_verdict_latest, message="the periodic verification never ran")
    after = scrape()

    # then: the ledger counted each committed transfer once, by code, with its amount
    assert added(before, after, "tally_ledger_transfers_total", code="credit_request") == 1
    assert (
        added(before, after, "tally_ledger_transfer_amount_minor_total", code="credit_request")
        == 100_00
    )
    assert added(before, after, "tally_ledger_transfers_total", code="charge_sale") == 1
    assert (
        added(before, after, "tally_ledger_transfer_amount_minor_total", code="charge_sale")
        == 30_00
    )
    # and the refusal, the replay and the rate limit once each
    assert added(before, after, "tally_insufficient_funds_total", code="charge_sale") == 1
    assert added(before, after, "tally_idempotent_replays_total") == 1
    assert added(before, after, "tally_rate_limited_total", route_class="read") == 1
    assert added(before, after, "tally_rate_limited_total", route_class="money") == 0
    # and the credit request's transitions
    for status in ("pending", "approving", "approved"):
        assert added(before, after, "tally_credit_requests_total", status=status) == 1, status
    assert added(before, after, "tally_credit_requests_total", status="rejected") == 0
    # and the worker's task outcomes
    credit_task = "tally.credit.credit_request_credit"
    assert (
        added(before, after, "tally_celery_tasks_total", task=credit_task, outcome="succeeded") == 1
    )
    assert added(before, after, "tally_celery_tasks_total", task=credit_task, outcome="failed") == 0
    verify_task = "tally.ledger.verification_periodic.ledger_verify_periodic"
    assert (
        added(before, after, "tally_celery_tasks_total", task=verify_task, outcome="succeeded") == 1
    )
    # and the gauges read at scrape time: a balanced ledger just verified, an empty outbox
    assert value(after, "tally_ledger_verify_mismatches") == 0
    assert started <= value(after, "tally_ledger_verify_last_run_timestamp_seconds") <= time.time()
    assert ("tally_ledger_verify_mismatches", ()) in after
    assert value(after, "tally_outbox_backlog") == 0
    assert value(after, "tally_outbox_oldest_age_seconds") == 0
    assert vendor_prepaid_balance(vendor) == 70_00


@pytest.mark.django_db
def test_a_sale_by_a_vendor_never_credited_is_counted_as_refused_for_funds() -> None:
    # given: a vendor whose prepaid account does not exist yet (it was never credited)
    vendor = VendorFactory()
    client = authenticate(APIClient(), vendor.user)
    before = scrape()
    # when
    refused = sell(client, vendor, "1.00")
    # then: refused before the ledger is reached, and counted all the same
    assert (refused.status_code, refused.json()["code"]) == (422, "insufficient_funds")
    assert added(before, scrape(), "tally_insufficient_funds_total", code="charge_sale") == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transfer_counts_nothing_and_a_committed_one_counts_once() -> None:
    # given
    from django.db import transaction

    from tally.credit.ledger_vocabulary import CREDIT_REQUEST, ISSUANCE
    from tally.credit.services import vendor_prepaid_account
    from tally.ledger import services as ledger

    vendor = VendorFactory()

    def credit(*, roll_back: bool) -> None:
        with transaction.atomic():
            ledger.transfer_create(
                debit_account=ledger.account_system(kind=ISSUANCE),
                credit_account=vendor_prepaid_account(vendor=vendor),
                amount_minor=5_00,
                code=CREDIT_REQUEST,
            )
            if roll_back:
                raise RuntimeError("roll back")

    before = scrape()
    # when
    with pytest.raises(RuntimeError):
        credit(roll_back=True)
    rolled_back = scrape()
    credit(roll_back=False)
    committed = scrape()
    # then
    assert added(before, rolled_back, "tally_ledger_transfers_total", code="credit_request") == 0
    assert added(before, committed, "tally_ledger_transfers_total", code="credit_request") == 1
    assert (
        added(before, committed, "tally_ledger_transfer_amount_minor_total", code="credit_request")
        == 5_00
    )
    assert vendor_prepaid_balance(vendor) == 5_00


# --- the outbox gauges ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_outbox_backlog_and_its_oldest_age_are_read_at_scrape(vendor: VendorProfile) -> None:
    # given: an approval whose job was written but never ran (the test's transaction never
    # commits, so nothing is published)
    admin = authenticate(APIClient(), AdminFactory())
    created = authenticate(APIClient(), vendor.user).post(
        "/api/v1/credit-requests/", {"amount": "10.00"}
    )
    assert admin.post(f"/api/v1/credit-requests/{created.json()['id']}/approve/").status_code == 202
    assert scrape()[("tally_outbox_backlog", ())] == 1
    # when: it has waited ten minutes, and a processed message sits beside it
    OutboxMessage.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    OutboxMessage.objects.create(task_name="done", payload={}, processed_at=timezone.now())
    samples = scrape()
    # then
    assert samples[("tally_outbox_backlog", ())] == 1
    assert 600 <= samples[("tally_outbox_oldest_age_seconds", ())] < 700


@pytest.mark.django_db
def test_the_outbox_query_uses_the_unprocessed_index() -> None:
    # given
    from tally.platform.outbox.metrics import _BACKLOG_SQL

    # when
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {_BACKLOG_SQL}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # then: the partial index answers it (its size is the backlog, not the table)
    assert "outbox_unprocessed_idx" in plan


# --- the periodic verification -----------------------------------------------------------


@pytest.mark.django_db
def test_the_periodic_verification_reports_mismatches_on_metrics(
    vendor: VendorProfile, caplog: pytest.LogCaptureFixture
) -> None:
    # given: a vendor's balance edited behind the ledger's back (no entry explains it)
    vendor_fund(vendor, 10_00)
    Account.objects.filter(owner=vendor.user).update(balance=12_00)
    # when
    with caplog.at_level(logging.ERROR, logger="tally.ledger.verification_periodic"):
        found = ledger_verify_periodic()
    samples = scrape()
    # then
    assert found >= 1
    assert samples[("tally_ledger_verify_mismatches", ())] == found
    verdict = verification_verdict_latest()
    assert verdict is not None
    assert "account_balances" in verdict.failed_checks
    [record] = [r for r in caplog.records if r.message == "ledger verification found mismatches"]
    assert record.levelno == logging.ERROR
    assert "account_balances" in record.failed_checks


def test_a_verification_asked_for_in_the_admin_console_updates_the_metrics(
    celery_worker: Any,
) -> None:
    # given: a ledger broken by hand, then repaired by hand, and a verdict that still says
    # broken
    from tally.ledger.models import VerificationRun
    from tally.ledger.verification_runs import verification_run_request

    vendor = VendorFactory()
    vendor_fund(vendor, 10_00)
    Account.objects.filter(owner=vendor.user).update(balance=12_00)
    assert ledger_verify_periodic() >= 1
    assert scrape()[("tally_ledger_verify_mismatches", ())] >= 1
    Account.objects.filter(owner=vendor.user).update(balance=10_00)
    # when: an admin runs the checks again from the console (a worker runs them)
    run = verification_run_request(actor=AdminFactory())
    wait_until(
        lambda: VerificationRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists(),
        message="the verification run never finished",
    )
    # then: /metrics shows the repaired ledger at once
    assert VerificationRun.objects.get(pk=run.pk).ok is True
    assert scrape()[("tally_ledger_verify_mismatches", ())] == 0


@pytest.mark.django_db
def test_metrics_still_answer_when_redis_has_no_verdict() -> None:
    # given: no periodic verification has run in this namespace
    verdict_forget()
    # when
    samples = scrape()
    # then: no gauge rather than a made-up 0, and the rest of the page is served
    assert ("tally_ledger_verify_mismatches", ()) not in samples
    assert ("tally_outbox_backlog", ()) in samples


# --- Celery task outcomes ----------------------------------------------------------------

_attempts: list[int] = []


@shared_task(name="tally.platform.tests.metrics_flaky", bind=True, max_retries=1)
def metrics_flaky(self: Any) -> None:
    _attempts.append(1)
    if len(_attempts) == 1:
        raise self.retry(countdown=0)
    raise ValueError("gave up")


def test_task_outcomes_are_counted_by_celery_signals(celery_worker: Any) -> None:
    # given
    task = "tally.platform.tests.metrics_flaky"
    before = scrape()
    # when: the task retries once, then fails
    metrics_flaky.delay()

    def counted() -> bool:
        return added(before, scrape(), "tally_celery_tasks_total", task=task, outcome="failed") == 1

    wait_until(counted, message="the failure was never counted")
    after = scrape()
    # then
    assert added(before, after, "tally_celery_tasks_total", task=task, outcome="retried") == 1
    assert added(before, after, "tally_celery_tasks_total", task=task, outcome="succeeded") == 0


# --- a real worker process and its own endpoint --------------------------------------------


@pytest.fixture
def worker_metrics() -> Iterator[Callable[[], Samples]]:
    """A real Celery worker process serving its metrics on WORKER_METRICS_BIND, as deployed;
    yields a function that scrapes that endpoint."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="tally-worker-metrics-") as directory:
        environment = {
            "WORKER_METRICS_BIND": f"127.0.0.1:{port}",
            "PROMETHEUS_MULTIPROC_DIR": str(Path(directory)),
        }
        with celery_worker_run(extra_env=environment):

            def read() -> Samples:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    return parse(r.read().decode())

            yield read


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_serves_its_counts_and_the_web_shows_its_verification(
    worker_metrics: Callable[[], Samples],
) -> None:
    # given
    verdict_forget()
    vendor = VendorFactory()
    admin = authenticate(APIClient(), AdminFactory())
    created = authenticate(APIClient(), vendor.user).post(
        "/api/v1/credit-requests/", {"amount": "40.00"}
    )
    # when: the approval is credited by the worker process, which also runs a verification
    assert admin.post(f"/api/v1/credit-requests/{created.json()['id']}/approve/").status_code == 202
    wait_for_status(
        CreditRequest.objects.get(pk=created.json()["id"]), CreditRequestStatus.APPROVED
    )
    ledger_verify_periodic.delay()

    def verified() -> Samples | None:
        samples = worker_metrics()
        task = "tally.ledger.verification_periodic.ledger_verify_periodic"
        return (
            samples
            if value(samples, "tally_celery_tasks_total", task=task, outcome="succeeded")
            else None
        )

    samples = wait_until(verified, message="the worker never counted its verification")
    # then: the worker's endpoint has what its jobs counted
    credit_task = "tally.credit.credit_request_credit"
    assert value(samples, "tally_celery_tasks_total", task=credit_task, outcome="succeeded") == 1
    assert value(samples, "tally_credit_requests_total", status="approved") == 1
    assert value(samples, "tally_ledger_transfers_total", code="credit_request") == 1
    assert (
        value(samples, "tally_ledger_transfer_amount_minor_total", code="credit_request") == 40_00
    )
    # and the verdict it stored is on the web's /metrics, not only the worker's
    assert ("tally_ledger_verify_mismatches", ()) not in samples
    web = scrape()
    assert web[("tally_ledger_verify_mismatches", ())] == 0


# --- payment latency ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_captured_payment_is_counted_with_its_latency() -> None:
    # given: an order, and a customer with funds
    from tally.catalog.testing import variant_make
    from tally.offers.testing import customer_fund
    from tally.orders.testing import order_place_for_test

    customer = CustomerFactory()
    customer_fund(customer, 100_00)
    placed = order_place_for_test(
        lines=[(variant_make(price=10_00, stock=5), 1)], customer=customer
    )
    before = scrape()
    # when
    response = authenticate(APIClient(), customer.user).post(
        f"/api/v1/orders/{placed.order.pk}/process-payment/", {"method": "wallet"}, format="json"
    )
    # then
    assert response.status_code == 201, response.content
    payment = Payment.objects.get(pk=response.json()["id"])
    after = scrape()
    labels = {"method": "wallet", "outcome": "captured"}
    assert added(before, after, "tally_payments_total", **labels) == 1
    assert added(before, after, "tally_payment_seconds_count", **labels) == 1
    observed = added(before, after, "tally_payment_seconds_sum", **labels)
    assert 0 <= observed <= (timezone.now() - payment.created_at).total_seconds()
    assert added(before, after, "tally_payment_seconds_bucket", le="3600.0", **labels) == 1
