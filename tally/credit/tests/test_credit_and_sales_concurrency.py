"""A vendor credited by the worker while one of its sales commits: both go through.

Found by the benchmark's mixed scenario: the credit job locked its request FOR UPDATE
across the join to the vendor's profile and user rows, then waited for the sale's account
row; the sale's commit-time foreign-key checks wait for FOR KEY SHARE on those same rows.
PostgreSQL broke the cycle by failing one of them (a 500 for the sale).
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from tally.credit import services
from tally.credit.models import CreditRequest, CreditRequestStatus
from tally.credit.testing import vendor_prepaid_balance
from tally.identity.tests.factories import AdminFactory, VendorFactory
from tally.ledger.verification import ledger_verify
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import (
    backend_pid,
    lock_wait_for,
    transaction_held,
    wait_until,
)
from tally.topups import services as topups_services


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
    job_backend: list[int] = []
    errors: list[BaseException] = []

    def run_credit_job() -> None:
        try:
            job_backend.append(backend_pid())
            services.credit_request_credit.apply(
                kwargs={"message_id": message.id, **message.payload}, throw=True
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def sell() -> None:
        topups_services.charge_sale_create(
            vendor=vendor, phone_number="+14155550100", amount_minor=1_00
        )

    # when: the sale holds the vendor's account row; the job starts and must wait for it
    job = threading.Thread(target=run_credit_job)
    with transaction_held(sell):
        job.start()
        wait_until(lambda: job_backend, message="the credit job never started")
        lock_wait_for(backend=job_backend[0], timeout_seconds=10)
        # ... and the sale commits while the job waits (its foreign-key checks run now)
    job.join(20)

    # then: neither was chosen as a deadlock victim; the books add up
    assert errors == []
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert vendor_prepaid_balance(vendor) == 10_00 + 25_00 - 1_00
    assert ledger_verify().ok
