"""Low-credit alerts: one per crossing of the vendor's threshold, on every debit of its
prepaid credit (sales, wallet credits), re-armed by a credit back above; exactly one under
concurrent sales; delivered by a real worker to a real SMTP server and a real HTTP server."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from tally.credit import low_credit, services
from tally.credit.low_credit import (
    DEDUP_KEY_PREFIX,
    WEBHOOK_TASK_NAME,
    low_credit_crossed,
    webhook_signature,
)
from tally.credit.models import CustomerCreditOperation, OperationStatus
from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.models import VendorProfile
from tally.identity.services import api_key_create
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.identity.tests.fixtures import authenticate
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.testing import assert_ledger_verifies
from tally.notifications.models import Notification, NotificationKind, NotificationStatus
from tally.notifications.tests.smtp_server import SmtpServer
from tally.partners.testing import partner_server_run, signature_valid
from tally.platform.outbox.callout import CallOutAttempt
from tally.platform.outbox.models import OutboxMessage
from tally.platform.testing.race import run_concurrently, wait_until
from tally.topups import services as topups
from tally.topups.models import ChargeSale

NUMBER = "+14155550123"


def _vendor(*, threshold_minor: int | None, webhook_url: str = "") -> VendorProfile:
    return cast(
        VendorProfile,
        VendorFactory(
            low_credit_threshold=threshold_minor,
            alert_webhook_url=webhook_url,
            alert_webhook_secret="s3cret" if webhook_url else "",
        ),
    )


def _sell(vendor: VendorProfile, amount_minor: int) -> int:
    return topups.charge_sale_create(
        vendor=vendor, phone_number=NUMBER, amount_minor=amount_minor
    ).remaining_credit_minor


def _alerts(vendor: VendorProfile) -> list[Notification]:
    return list(
        Notification.objects.filter(user=vendor.user, kind=NotificationKind.LOW_CREDIT).order_by(
            "created_at"
        )
    )


def _webhook_jobs() -> list[OutboxMessage]:
    return list(OutboxMessage.objects.filter(task_name=WEBHOOK_TASK_NAME).order_by("id"))


def test_the_crossing_rule_in_integers() -> None:
    # threshold 50.00: from at or above to below crosses; anything else does not
    assert low_credit_crossed(threshold_minor=50_00, after_minor=49_99, amount_minor=1)
    assert low_credit_crossed(threshold_minor=50_00, after_minor=0, amount_minor=50_00)
    assert not low_credit_crossed(threshold_minor=50_00, after_minor=50_00, amount_minor=1)
    assert not low_credit_crossed(threshold_minor=50_00, after_minor=49_98, amount_minor=1)
    assert not low_credit_crossed(threshold_minor=None, after_minor=0, amount_minor=1)
    assert not low_credit_crossed(threshold_minor=0, after_minor=0, amount_minor=1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount_minor", "alerts"),
    [
        (49_99, 0),  # 100.00 -> 50.01: above the threshold
        (50_00, 0),  # 100.00 -> 50.00: at the threshold is not below it
        (50_01, 1),  # 100.00 -> 49.99: below
        (100_00, 1),  # 100.00 -> 0.00: all the way down
    ],
)
def test_a_sale_alerts_only_when_it_takes_the_credit_below_the_threshold(
    amount_minor: int, alerts: int
) -> None:
    # given
    vendor = _vendor(threshold_minor=50_00)
    vendor_fund(vendor, 100_00)
    # when
    remaining = _sell(vendor, amount_minor)
    # then
    assert remaining == 100_00 - amount_minor
    found = _alerts(vendor)
    assert len(found) == alerts
    if alerts:
        [alert] = found
        sale = ChargeSale.objects.get()
        assert alert.dedup_key == f"{DEDUP_KEY_PREFIX}{sale.transfer_id}"
        assert alert.recipient == vendor.user.email
        assert alert.status == NotificationStatus.QUEUED
        assert alert.context == {
            "name": vendor.business_name,
            "balance": f"{remaining // 100}.{remaining % 100:02d}",
            "threshold": "50.00",
            "currency": "USD",
            "previous_balance": "100.00",
            "transfer_id": str(sale.transfer_id),
        }
    # no webhook URL: no webhook job
    assert _webhook_jobs() == []


@pytest.mark.django_db
@pytest.mark.parametrize("threshold_minor", [None, 0])
def test_no_threshold_means_no_alert(threshold_minor: int | None) -> None:
    # given
    vendor = _vendor(threshold_minor=threshold_minor, webhook_url="http://127.0.0.1:9/hook")
    vendor_fund(vendor, 10_00)
    # when: down to nothing
    _sell(vendor, 10_00)
    # then
    assert _alerts(vendor) == []
    assert _webhook_jobs() == []


@pytest.mark.django_db
def test_one_alert_per_crossing_rearmed_by_a_credit_back_at_or_above_the_threshold() -> None:
    # given
    vendor = _vendor(threshold_minor=50_00)
    admin = AdminFactory()
    vendor_fund(vendor, 60_00)
    # when: crossing, then further down, then a credit that stays below
    _sell(vendor, 20_00)  # 60 -> 40: alert 1
    _sell(vendor, 10_00)  # 40 -> 30: still below, nothing
    services.vendor_credit_increase(actor=admin, vendor=vendor, amount_minor=10_00, reason="t")
    _sell(vendor, 5_00)  # 40 -> 35: never back above, nothing
    # then
    assert len(_alerts(vendor)) == 1
    # when: a credit back exactly to the threshold re-arms it
    services.vendor_credit_increase(actor=admin, vendor=vendor, amount_minor=15_00, reason="t")
    assert vendor_prepaid_balance(vendor) == 50_00
    _sell(vendor, 1)  # 50.00 -> 49.99: alert 2
    # then
    alerts = _alerts(vendor)
    assert [alert.context["balance"] for alert in alerts] == ["40.00", "49.99"]
    assert [alert.context["previous_balance"] for alert in alerts] == ["60.00", "50.00"]
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_crossing_sale_enqueues_the_signed_webhook_with_the_email() -> None:
    # given
    vendor = _vendor(threshold_minor=50_00, webhook_url="http://127.0.0.1:9/hook")
    vendor_fund(vendor, 50_00)
    # when
    _sell(vendor, 30_00)
    _sell(vendor, 10_00)
    # then: one email, one webhook job, whose body is fixed now
    assert len(_alerts(vendor)) == 1
    [job] = _webhook_jobs()
    sale = ChargeSale.objects.order_by("created_at").first()
    assert sale is not None
    body = json.loads(job.payload["body"])
    assert job.payload["vendor_id"] == str(vendor.pk)
    assert {key: value for key, value in body.items() if key != "occurred_at"} == {
        "event": "vendor.low_credit",
        "vendor_id": str(vendor.pk),
        "balance": "20.00",
        "previous_balance": "50.00",
        "threshold": "50.00",
        "currency": "USD",
        "transfer_id": str(sale.transfer_id),
    }


@pytest.mark.django_db
def test_a_sale_that_crosses_nothing_costs_no_extra_statement() -> None:
    # given: a vendor with a threshold, well above it, in the steady state
    vendor = _vendor(threshold_minor=50_00, webhook_url="http://127.0.0.1:9/hook")
    vendor_fund(vendor, 1000_00)
    _sell(vendor, 1_00)
    # when
    with CaptureQueriesContext(connection) as queries:
        _sell(vendor, 1_00)
    # then: the sale's own three statements, nothing for the alert
    assert [query["sql"].split()[0].upper() for query in queries.captured_queries] == [
        "SELECT",
        "WITH",
        "WITH",
    ]


@pytest.mark.django_db
def test_a_refused_sale_alerts_nothing() -> None:
    # given
    vendor = _vendor(threshold_minor=50_00)
    vendor_fund(vendor, 60_00)
    # when: more than the credit
    with pytest.raises(InsufficientFundsError):
        _sell(vendor, 61_00)
    # then
    assert _alerts(vendor) == []
    assert vendor_prepaid_balance(vendor) == 60_00


def _run_customer_credit(vendor: VendorProfile, amount_minor: int) -> CustomerCreditOperation:
    operation = services.customer_credit_request(
        vendor_user=vendor.user, customer=CustomerFactory(), amount_minor=amount_minor
    )
    message = OutboxMessage.objects.get(payload__operation_id=str(operation.pk))
    services.customer_credit_execute.apply(
        kwargs={"message_id": message.id, **message.payload}, throw=True
    )
    operation.refresh_from_db()
    return operation


@pytest.mark.django_db(transaction=True)
def test_funding_a_customer_wallet_across_the_threshold_alerts_once() -> None:
    # given
    vendor = _vendor(threshold_minor=50_00)
    vendor_fund(vendor, 80_00)
    # when: 80 -> 60 (nothing), 60 -> 40 (crossing), 40 -> 30 (nothing)
    operations = [_run_customer_credit(vendor, amount) for amount in (20_00, 20_00, 10_00)]
    # then
    assert [operation.status for operation in operations] == [OperationStatus.SUCCEEDED] * 3
    [alert] = _alerts(vendor)
    assert alert.dedup_key == f"{DEDUP_KEY_PREFIX}{operations[1].transfer_id}"
    assert (alert.context["previous_balance"], alert.context["balance"]) == ("60.00", "40.00")


@pytest.mark.django_db(transaction=True)
def test_concurrent_sales_across_the_threshold_enqueue_exactly_one_alert() -> None:
    # given: 12 sales of 10.00 against 100.00 with a threshold of 55.00: whatever order the
    # row lock serializes them in, exactly one of them takes the credit from >= 55 to < 55
    vendor = _vendor(threshold_minor=55_00, webhook_url="http://127.0.0.1:9/hook")
    vendor_fund(vendor, 100_00)
    # when: all at the same instant, each on its own connection
    outcomes = run_concurrently(lambda: _sell(vendor, 10_00), times=12)
    # then: ten went through, two were refused; one alert, one webhook job
    succeeded = sorted(int(outcome.value or 0) for outcome in outcomes if outcome.error is None)
    assert succeeded == [0, 10_00, 20_00, 30_00, 40_00, 50_00, 60_00, 70_00, 80_00, 90_00]
    assert (
        sorted(type(o.error).__name__ for o in outcomes if o.error)
        == ["InsufficientFundsError"] * 2
    )
    [alert] = _alerts(vendor)
    assert (alert.context["previous_balance"], alert.context["balance"]) == ("60.00", "50.00")
    assert len(_webhook_jobs()) == 1
    assert vendor_prepaid_balance(vendor) == 0
    assert_ledger_verifies()


@pytest.mark.django_db(transaction=True)
def test_the_alert_is_emailed_by_a_worker_and_posted_signed_to_the_vendors_webhook(
    celery_worker: Any, smtp: SmtpServer, settings: Any
) -> None:
    settings.LOW_CREDIT_WEBHOOK_BACKOFF_SECONDS = 0.05
    settings.LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on loopback
    with partner_server_run() as server:
        # given
        vendor = _vendor(threshold_minor=50_00, webhook_url=server.url)
        vendor.user.email = "shop@example.com"
        vendor.user.save(update_fields=["email"])
        vendor.user.refresh_from_db()
        vendor_fund(vendor, 60_00)
        server.fail_next_calls(1)  # the first attempt is refused: retried
        # when
        _sell(vendor, 15_00)
        # then: the email arrives once
        alert = wait_until(
            lambda: Notification.objects.filter(
                user=vendor.user, status=NotificationStatus.SENT
            ).first(),
            timeout_seconds=30,
            message="the low-credit email was never sent",
        )
        [message] = smtp.wait_for_messages(1)
        assert message["To"] == "shop@example.com"
        assert message["Subject"] == "Your prepaid credit is below 50.00 USD"
        text = message.get_body(preferencelist=("plain",))
        assert text is not None
        assert "Your prepaid credit is now 45.00 USD, below the alert threshold of 50.00 USD" in (
            text.get_content().replace("\r\n", "\n")
        )
        assert alert.attempts == 1
        # and the webhook: refused once, then delivered, signed, the same delivery id
        server.wait_for_calls(2, timeout_seconds=30)
        first, second = server.calls[:2]
        assert (first.status, second.status) == (500, 200)
        assert first.body == second.body
        assert first.delivery == second.delivery != ""
        assert second.content_type == "application/json"
        assert signature_valid("s3cret", second.signature, second.body)
        assert not signature_valid("other", second.signature, second.body)
        body = json.loads(second.body)
        assert (body["event"], body["balance"], body["threshold"]) == (
            "vendor.low_credit",
            "45.00",
            "50.00",
        )
        wait_until(
            lambda: OutboxMessage.objects.filter(
                task_name=WEBHOOK_TASK_NAME, processed_at__isnull=False, failed_at__isnull=True
            ).exists(),
            timeout_seconds=30,
            message="the webhook job never settled",
        )
        assert len(server.calls) == 2


def test_the_signature_matches_the_documented_known_answer() -> None:
    # docs/partners.md and docs/alerts.md: the same scheme, the same known answer
    assert webhook_signature(
        secret="s3cret", timestamp=1700000000, body=b'{"event":"activation.finished"}'
    ) == ("t=1700000000,v1=41da79db75654872bb366738d2f1b3937ccf27dd202b14554fcf0a90e16545e7")


@pytest.mark.django_db
@pytest.mark.parametrize("auth", ["api_key", "jwt"])
def test_a_sale_over_http_alerts_with_the_threshold_the_vendor_just_set(auth: str) -> None:
    # given: the vendor sets its threshold through the API, then sells as an integrator
    vendor = _vendor(threshold_minor=None)
    vendor_fund(vendor, 100_00)
    client = APIClient()
    if auth == "api_key":
        with transaction.atomic():
            key = api_key_create(user=vendor.user, name="till").key
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    else:
        authenticate(client, vendor.user)
    url = f"/api/v1/vendors/{vendor.user_id}/"
    assert (
        client.patch(f"{url}low-credit-alert/", {"threshold": "60.00"}, format="json").json()[
            "threshold"
        ]
        == "60.00"
    )
    # when: 100 -> 70 (nothing), 70 -> 40 (crossing), 40 -> 10 (nothing)
    answers = [
        client.post(f"{url}charges/", {"phone_number": NUMBER, "amount": "30.00"}, format="json")
        for _ in range(3)
    ]
    # then
    assert [answer.status_code for answer in answers] == [201, 201, 201]
    assert [answer.json()["remaining_credit"] for answer in answers] == ["70.00", "40.00", "10.00"]
    [alert] = _alerts(vendor)
    assert (alert.context["previous_balance"], alert.context["balance"]) == ("70.00", "40.00")


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_crossing_sale_leaves_no_alert() -> None:
    # given
    vendor = _vendor(threshold_minor=50_00, webhook_url="http://127.0.0.1:9/hook")
    vendor_fund(vendor, 60_00)

    # when: the sale crosses, then its transaction rolls back
    class Abandoned(Exception):
        pass

    def sell_then_abandon() -> None:
        with transaction.atomic():
            _sell(vendor, 20_00)
            raise Abandoned()

    with pytest.raises(Abandoned):
        sell_then_abandon()
    # then: neither the email nor the webhook was recorded; the credit is untouched
    assert _alerts(vendor) == []
    assert _webhook_jobs() == []
    assert vendor_prepaid_balance(vendor) == 60_00
    # and the next crossing still alerts
    _sell(vendor, 20_00)
    assert len(_alerts(vendor)) == 1


@pytest.mark.django_db(transaction=True)
def test_a_webhook_removed_before_delivery_is_skipped() -> None:
    with partner_server_run() as server:
        # given: an alert recorded with a webhook URL, which the vendor then removes
        vendor = _vendor(threshold_minor=50_00, webhook_url=server.url)
        vendor_fund(vendor, 60_00)
        _sell(vendor, 20_00)
        [job] = _webhook_jobs()
        low_credit.vendor_low_credit_alert_update(actor=vendor.user, vendor=vendor, webhook_url="")
        # when: the job runs
        low_credit.low_credit_webhook.apply(
            kwargs={"message_id": job.id, **job.payload}, throw=True
        )
        # then: nothing was POSTed, and the job is done, not failed
        job.refresh_from_db()
        assert server.calls == []
        assert job.processed_at is not None
        assert job.failed_at is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_a_webhook_to_a_non_public_address_is_refused(url: str, settings: Any) -> None:
    settings.LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(low_credit.WebhookDeliveryError, match="non-public address"):
        low_credit.webhook_address_check(url)


def test_a_webhook_to_a_public_address_passes_the_check(settings: Any) -> None:
    settings.LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    low_credit.webhook_address_check("https://93.184.216.34/hook")  # an IP literal: no DNS


@pytest.mark.django_db
def test_the_worker_never_calls_a_loopback_webhook_unless_allowed(settings: Any) -> None:
    settings.LOW_CREDIT_WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with partner_server_run() as server:
        # given: an alert whose vendor points its webhook at a service on loopback
        vendor = _vendor(threshold_minor=50_00, webhook_url=server.url)
        vendor_fund(vendor, 60_00)
        _sell(vendor, 20_00)
        [job] = _webhook_jobs()
        attempt = CallOutAttempt(
            message_id=job.id, attempt=1, max_attempts=8, idempotency_key=f"outbox-{job.id}"
        )
        # when / then: the attempt fails before any connection is made
        with pytest.raises(low_credit.WebhookDeliveryError, match="non-public"):
            low_credit.low_credit_webhook_call_out(attempt, **job.payload)
        assert server.calls == []
