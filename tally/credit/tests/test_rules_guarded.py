"""Money rules of the credit jobs that only show when they break: the job for an approved
request or a finished operation is a clean no-op (no error, no retry, no second credit),
however it is delivered; a deactivated vendor's pending credit moves nothing; and the
cached balances follow every credit the workers make."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from celery import Task
from django.db import connection, transaction

from tally.credit import services
from tally.credit.ledger_vocabulary import (
    CREDIT_REQUEST,
    CUSTOMER_CREDIT,
    CUSTOMER_WALLET,
    VENDOR_PREPAID,
)
from tally.credit.models import (
    CreditRequest,
    CreditRequestStatus,
    CustomerCreditOperation,
    OperationStatus,
)
from tally.credit.testing import customer_wallet_balance, vendor_fund, vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.services import vendor_deactivate
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.ledger import selectors as ledger_selectors
from tally.ledger.models import Account, Transfer
from tally.ledger.verification import ledger_verify
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import Outcome, run_concurrently, transaction_held, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that fails here fails at once, instead of being retried until it happens to
    pass: every job below must succeed on its first run."""
    for task in (services.credit_request_credit, services.customer_credit_execute):
        monkeypatch.setattr(task, "max_retries", 0)


def run(task: Task, message: OutboxMessage) -> None:
    """Deliver ``message`` to ``task`` as a worker would (real task code, eagerly); raise
    what the job raised."""
    try:
        task.apply(kwargs={"message_id": message.id, **message.payload}).get()
    finally:
        connection.close()


def lock_waiters() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return [int(row[0]) for row in cursor.fetchall()]


def approved_request(vendor: VendorProfile, amount_minor: int) -> CreditRequest:
    credit_request = CreditRequest.objects.create(
        vendor=vendor, amount=amount_minor, requested_by=vendor.user
    )
    services.credit_request_approve(actor=AdminFactory(), credit_request=credit_request)
    return credit_request


def another_message(task_name: str, payload: dict[str, Any]) -> OutboxMessage:
    """A second job for the same work, as an operator re-enqueueing it by hand would make."""
    with transaction.atomic():
        return services.outbox_enqueue(task_name=task_name, payload=payload)


def prepaid_account(vendor: VendorProfile) -> Account:
    with transaction.atomic():
        return services.vendor_prepaid_account(vendor=vendor)


def test_a_second_job_for_a_credited_request_is_a_clean_no_op() -> None:
    # given
    vendor = VendorFactory()
    credit_request = approved_request(vendor, 500)
    first = OutboxMessage.objects.get()
    second = another_message(services.CREDIT_REQUEST_TASK, first.payload)
    run(services.credit_request_credit, first)
    credit_request.refresh_from_db()
    credited_at = credit_request.credited_at
    # when: the second job runs after the first committed (it must not fail and retry)
    run(services.credit_request_credit, second)
    # then
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert credit_request.credited_at == credited_at
    assert vendor_prepaid_balance(vendor) == 500
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1


def test_concurrent_jobs_for_one_request_credit_once_and_neither_fails() -> None:
    # given: two jobs for one approved request, and the vendor's account held busy so both
    # are in flight together
    vendor = VendorFactory()
    account = prepaid_account(vendor)
    credit_request = approved_request(vendor, 700)
    first = OutboxMessage.objects.get()
    second = another_message(services.CREDIT_REQUEST_TASK, first.payload)

    def hold_account() -> None:
        Account.objects.select_for_update().get(pk=account.pk)

    # when: both jobs start while the account is held, and both wait before it is released
    outcomes: list[Outcome[None]] = []
    with transaction_held(hold_account):
        jobs = threading.Thread(
            target=lambda: outcomes.extend(
                run_concurrently(
                    lambda: run(services.credit_request_credit, first),
                    lambda: run(services.credit_request_credit, second),
                )
            )
        )
        jobs.start()
        wait_until(lambda: len(lock_waiters()) >= 2, message="the two jobs never both waited")
    jobs.join(timeout=60)
    # then
    assert [outcome.error for outcome in outcomes] == [None, None]
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert vendor_prepaid_balance(vendor) == 700
    assert Transfer.objects.filter(code=CREDIT_REQUEST).count() == 1
    assert ledger_verify().ok


def test_a_request_found_approving_again_is_not_credited_twice() -> None:
    """Its ledger idempotency key (the request id) stands behind the status: a job that
    finds the request approving again (restored by hand after it was credited) moves
    nothing a second time."""
    # given
    vendor = VendorFactory()
    credit_request = approved_request(vendor, 900)
    first = OutboxMessage.objects.get()
    run(services.credit_request_credit, first)
    CreditRequest.objects.filter(pk=credit_request.pk).update(
        status=CreditRequestStatus.APPROVING, transfer=None, credited_at=None
    )
    # when
    run(
        services.credit_request_credit,
        another_message(services.CREDIT_REQUEST_TASK, first.payload),
    )
    # then
    credit_request.refresh_from_db()
    assert credit_request.status == CreditRequestStatus.APPROVED
    assert vendor_prepaid_balance(vendor) == 900
    transfer = Transfer.objects.get(code=CREDIT_REQUEST)
    assert credit_request.transfer_id == transfer.id


def test_a_second_job_for_a_finished_customer_credit_is_a_clean_no_op() -> None:
    # given
    vendor, customer = VendorFactory(), CustomerFactory()
    vendor_fund(vendor, 1_000)
    operation = services.customer_credit_request(
        vendor_user=vendor.user, customer=customer, amount_minor=400
    )
    first = OutboxMessage.objects.get()
    second = another_message(services.CUSTOMER_CREDIT_TASK, first.payload)
    run(services.customer_credit_execute, first)
    # when
    run(services.customer_credit_execute, second)
    # then
    operation.refresh_from_db()
    assert operation.status == OperationStatus.SUCCEEDED
    assert (vendor_prepaid_balance(vendor), customer_wallet_balance(customer)) == (600, 400)
    assert Transfer.objects.filter(code=CUSTOMER_CREDIT).count() == 1


def test_a_vendor_deactivated_before_its_customer_credit_ran_moves_nothing() -> None:
    # given
    vendor, customer = VendorFactory(), CustomerFactory()
    vendor_fund(vendor, 1_000)
    operation = services.customer_credit_request(
        vendor_user=vendor.user, customer=customer, amount_minor=400
    )
    vendor_deactivate(actor=AdminFactory(), vendor=vendor)
    # when
    run(services.customer_credit_execute, OutboxMessage.objects.get())
    # then
    operation.refresh_from_db()
    assert (operation.status, operation.failure_code) == (
        OperationStatus.FAILED,
        "vendor_inactive",
    )
    assert (vendor_prepaid_balance(vendor), customer_wallet_balance(customer)) == (1_000, 0)
    assert not CustomerCreditOperation.objects.filter(transfer__isnull=False).exists()


def test_cached_balances_follow_the_workers_credits() -> None:
    vendor, customer = VendorFactory(), CustomerFactory()

    def cached(owner_id: Any, kind: str) -> int:
        return ledger_selectors.owner_balance(owner_id=owner_id, kind=kind).balance

    prepaid_account(vendor)
    assert cached(vendor.user_id, VENDOR_PREPAID) == 0  # cached now
    approved_request(vendor, 800)
    run(services.credit_request_credit, OutboxMessage.objects.get())
    assert cached(vendor.user_id, VENDOR_PREPAID) == 800
    with transaction.atomic():
        services.ledger.account_get_or_create(owner=customer.user, kind=CUSTOMER_WALLET)
    assert cached(customer.user_id, CUSTOMER_WALLET) == 0  # cached now
    services.customer_credit_request(vendor_user=vendor.user, customer=customer, amount_minor=300)
    run(services.customer_credit_execute, OutboxMessage.objects.order_by("id")[1])
    assert cached(vendor.user_id, VENDOR_PREPAID) == 500
    assert cached(customer.user_id, CUSTOMER_WALLET) == 300
