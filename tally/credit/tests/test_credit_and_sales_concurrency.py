"""A vendor credited by the worker while one of its sales commits: both go through.

Found by the benchmark's mixed scenario: the credit job locked its request FOR UPDATE
across the join to the vendor's profile and user rows, then waited for the sale's account
row; the sale's commit-time foreign-key checks wait for FOR KEY SHARE on those same rows.
PostgreSQL broke the cycle by failing one of them (a 500 for the sale).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction

from tally.credit import selectors, services
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.identity.tests.factories import AdminFactory, VendorFactory
from tally.ledger.verification import ledger_verify
from tally.platform.outbox.models import OutboxMessage
from tally.topups import services as topups_services


def _waiting_on_a_lock(backend_pid: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", [backend_pid]
        )
        row = cursor.fetchone()
    return bool(row and row[0])


@pytest.mark.django_db(transaction=True)
def test_credit_job_and_a_committing_sale_of_the_same_vendor_do_not_deadlock() -> None:
    # given: a funded vendor with an approved credit request whose job is queued
    vendor, admin = VendorFactory(), AdminFactory()
    services.vendor_credit_increase(actor=admin, vendor=vendor, amount_minor=10_00, reason="t")
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=25_00, requested_by=vendor.user
    )
    services.credit_request_approve(actor=admin, credit_request=credit_request)
    message = OutboxMessage.objects.get()
    sale_holds_its_row, commit_the_sale = threading.Event(), threading.Event()
    job_backend: list[int] = []
    errors: list[BaseException] = []

    def sell() -> None:
        try:
            with transaction.atomic():
                topups_services.charge_sale_create(
                    vendor=vendor, phone_number="+14155550100", amount_minor=1_00
                )
                sale_holds_its_row.set()
                commit_the_sale.wait(10)
        except BaseException as exc:
            errors.append(exc)
        finally:
            sale_holds_its_row.set()
            connection.close()

    def run_credit_job() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                job_backend.append(cursor.fetchone()[0])
            services.credit_request_credit.apply(
                kwargs={"message_id": message.id, **message.payload}, throw=True
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # when: the sale holds the vendor's account row; the job starts and must wait for it
    seller = threading.Thread(target=sell)
    seller.start()
    assert sale_holds_its_row.wait(10)
    job = threading.Thread(target=run_credit_job)
    job.start()
    deadline = time.monotonic() + 10
    while not (job_backend and _waiting_on_a_lock(job_backend[0])):
        assert time.monotonic() < deadline, "the credit job never waited for the sale's row"
        time.sleep(0.05)
    # ... and the sale commits while the job waits (its foreign-key checks run now)
    commit_the_sale.set()
    seller.join(20)
    job.join(20)

    # then: neither was chosen as a deadlock victim; the books add up
    assert errors == []
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert selectors.vendor_balance(vendor=vendor).balance == 10_00 + 25_00 - 1_00
    assert ledger_verify().ok
