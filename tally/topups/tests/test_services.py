"""Charge sales and the phone number registry at the service level: rules and transitions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tally.credit.ledger_vocabulary import VENDOR_PREPAID
from tally.credit.testing import vendor_fund, vendor_prepaid_balance
from tally.identity.exceptions import VendorInactiveError
from tally.identity.models import User, VendorProfile
from tally.identity.tests.factories import AdminFactory, CustomerFactory, VendorFactory
from tally.ledger.exceptions import InsufficientFundsError
from tally.ledger.models import Entry, TransferKind
from tally.ledger.testing import assert_ledger_verifies
from tally.platform.audit.models import AuditEvent
from tally.platform.exceptions import PermissionDeniedError
from tally.platform.testing.race import lock_wait_for, run_concurrently
from tally.topups import services
from tally.topups.exceptions import PhoneNumberInUseError, PhoneNumberTakenError
from tally.topups.ledger_vocabulary import AIRTIME_SETTLEMENT, CHARGE_SALE
from tally.topups.models import ChargeSale, PhoneNumber
from tally.topups.tests.factories import PhoneNumberFactory
from tally.topups.tests.helpers import row_counts, settlement_balance

NUMBER = "+14155550123"


@pytest.mark.django_db
def test_sale_debits_exactly_the_amount_and_credits_airtime_settlement(
    vendor: VendorProfile,
) -> None:
    # given
    vendor_fund(vendor, 100_00)
    # when
    result = services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=45_00)
    # then: the money moved exactly once, from the vendor to airtime settlement
    assert result.remaining_credit_minor == 55_00
    assert vendor_prepaid_balance(vendor) == 55_00
    assert settlement_balance() == 45_00
    sale = ChargeSale.objects.select_related("transfer", "phone_number").get()
    assert sale == result.sale
    assert (sale.vendor_id, sale.amount, sale.phone_number.number) == (vendor.pk, 45_00, NUMBER)
    transfer = sale.transfer
    assert (transfer.kind, transfer.code, transfer.amount) == (
        TransferKind.IMMEDIATE,
        CHARGE_SALE,
        45_00,
    )
    assert transfer.reference == str(sale.id)
    assert transfer.created_at == sale.created_at
    assert transfer.debit_account.owner_id == vendor.user_id
    assert transfer.debit_account.kind == VENDOR_PREPAID
    assert transfer.credit_account.kind == AIRTIME_SETTLEMENT
    debit_entry = Entry.objects.get(transfer=transfer, amount__lt=0)
    assert (debit_entry.amount, debit_entry.balance_after) == (-45_00, 55_00)
    # and the number was registered, by the vendor
    phone = PhoneNumber.objects.get()
    assert (phone.number, phone.created_by_id, phone.label) == (NUMBER, vendor.user_id, "")
    assert_ledger_verifies()


@pytest.mark.django_db
def test_sales_to_a_known_number_reuse_it(vendor: VendorProfile) -> None:
    # given
    vendor_fund(vendor, 10_00)
    existing = PhoneNumberFactory(number=NUMBER, label="front desk")
    # when
    services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00)
    services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=2_00)
    # then
    assert PhoneNumber.objects.count() == 1
    assert set(ChargeSale.objects.values_list("phone_number_id", flat=True)) == {existing.id}
    existing.refresh_from_db()
    assert existing.label == "front desk"  # a sale never touches the registry entry
    assert vendor_prepaid_balance(vendor) == 7_00


@pytest.mark.django_db
def test_a_sale_of_the_whole_credit_leaves_exactly_zero(vendor: VendorProfile) -> None:
    vendor_fund(vendor, 30_00)
    result = services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=30_00)
    assert result.remaining_credit_minor == 0
    assert vendor_prepaid_balance(vendor) == 0


@pytest.mark.django_db
def test_insufficient_funds_writes_nothing(vendor: VendorProfile) -> None:
    # given
    vendor_fund(vendor, 10_00)
    before = row_counts()
    # when: one cent more than the credit, to a number not registered yet
    with pytest.raises(InsufficientFundsError):
        services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=10_01)
    # then: no sale, no transfer, no entry, no number; the balances are untouched
    assert row_counts() == before
    assert vendor_prepaid_balance(vendor) == 10_00
    assert settlement_balance() == 0
    assert_ledger_verifies()


@pytest.mark.django_db
def test_a_vendor_never_credited_is_refused_and_nothing_is_written(
    vendor: VendorProfile,
) -> None:
    before = row_counts()
    with pytest.raises(InsufficientFundsError):
        services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1)
    assert row_counts() == before  # not even an empty credit account


@pytest.mark.django_db
def test_inactive_vendor_is_refused_and_nothing_is_written(
    inactive_vendor: VendorProfile,
) -> None:
    # given: credit issued while it was active, then an admin deactivated it
    vendor_fund(inactive_vendor, 10_00)
    before = row_counts()
    # when / then
    with pytest.raises(VendorInactiveError):
        services.charge_sale_create(vendor=inactive_vendor, phone_number=NUMBER, amount_minor=1_00)
    assert row_counts() == before
    assert vendor_prepaid_balance(inactive_vendor) == 10_00


@pytest.mark.django_db
def test_a_sale_costs_few_statements(vendor: VendorProfile) -> None:
    # given: the accounts and the number exist (the steady state of a busy vendor)
    vendor_fund(vendor, 10_00)
    services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00)
    # when
    with CaptureQueriesContext(connection) as queries:
        services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00)
    # then: one statement to find both accounts, one for the whole ledger transfer (the
    # guarded balance update, the settlement lock, the transfer and its entries), one for
    # the sale with its number registered-or-found. No savepoint inside the caller's
    # transaction; in a request without one, the use case's own BEGIN and COMMIT.
    statements = [query["sql"].split()[0].upper() for query in queries.captured_queries]
    assert statements == [
        "SELECT",  # vendor credit + airtime settlement accounts
        "WITH",  # UPDATE … RETURNING, advisory lock, INSERT transfer, INSERT entries
        "WITH",  # INSERT … ON CONFLICT DO NOTHING or the row FOR KEY SHARE, INSERT sale
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_sales_register_the_number_once() -> None:
    # given: eight vendors with credit, one number nobody has used yet
    vendors = [VendorFactory() for _ in range(8)]
    for vendor in vendors:
        vendor_fund(vendor, 5_00)

    def seller(vendor: VendorProfile) -> Callable[[], int]:
        return lambda: (
            services.charge_sale_create(
                vendor=vendor, phone_number=NUMBER, amount_minor=2_00
            ).remaining_credit_minor
        )

    # when
    outcomes = run_concurrently(*(seller(vendor) for vendor in vendors))
    # then: one registry entry, every sale made against it
    assert [outcome.error for outcome in outcomes] == [None] * len(vendors)
    assert [outcome.value for outcome in outcomes] == [3_00] * len(vendors)
    phone = PhoneNumber.objects.get()
    assert phone.number == NUMBER
    assert phone.created_by_id in {vendor.user_id for vendor in vendors}
    assert ChargeSale.objects.filter(phone_number=phone).count() == len(vendors)
    assert settlement_balance() == 2_00 * len(vendors)
    assert_ledger_verifies()


# --- phone numbers ----------------------------------------------------------------------


@pytest.mark.django_db
def test_phone_number_create_is_audited_and_refuses_duplicates(vendor: VendorProfile) -> None:
    # when
    phone = services.phone_number_create(actor=vendor.user, number=NUMBER, label="shop")
    # then
    assert (phone.number, phone.label, phone.created_by_id) == (NUMBER, "shop", vendor.user_id)
    event = AuditEvent.objects.get(action="phone_number.created")
    assert (event.actor_id, event.target_id) == (vendor.user_id, str(phone.id))
    # and a second registration of the number is refused, changing nothing
    with pytest.raises(PhoneNumberTakenError):
        services.phone_number_create(actor=AdminFactory(), number=NUMBER)
    assert PhoneNumber.objects.count() == 1


@pytest.mark.django_db
def test_only_admins_and_vendors_register_numbers() -> None:
    with pytest.raises(PermissionDeniedError):
        services.phone_number_create(actor=CustomerFactory().user, number=NUMBER)
    assert not PhoneNumber.objects.exists()


@pytest.mark.django_db
def test_an_inactive_vendor_registers_no_number(inactive_vendor: VendorProfile) -> None:
    # given
    before = row_counts()
    # when / then
    with pytest.raises(VendorInactiveError):
        services.phone_number_create(actor=inactive_vendor.user, number=NUMBER)
    assert row_counts() == before


def _change(change: str, *, actor: User, phone_number: PhoneNumber) -> None:
    if change == "update":
        services.phone_number_update(
            actor=actor, phone_number=phone_number, number="+14155550124", label="theirs"
        )
    else:
        services.phone_number_delete(actor=actor, phone_number=phone_number)


@pytest.mark.django_db
@pytest.mark.parametrize("change", ["update", "delete"])
def test_only_an_admin_or_the_active_registrant_changes_a_number(change: str) -> None:
    # given: a number registered by a vendor that an admin has since deactivated
    registrant = VendorFactory()
    phone_number = services.phone_number_create(actor=registrant.user, number=NUMBER, label="shop")
    VendorProfile.objects.filter(pk=registrant.pk).update(is_active=False)
    before = row_counts()
    # when / then: another vendor and a customer are refused (403), the inactive
    # registrant too (422), and nothing changes
    for actor, error in [
        (VendorFactory().user, PermissionDeniedError),
        (CustomerFactory().user, PermissionDeniedError),
        (registrant.user, VendorInactiveError),
    ]:
        with pytest.raises(error):
            _change(change, actor=actor, phone_number=phone_number)
    unchanged = PhoneNumber.objects.get(pk=phone_number.pk)
    assert (unchanged.number, unchanged.label) == (NUMBER, "shop")
    assert row_counts() == before
    # and an admin may
    _change(change, actor=AdminFactory(), phone_number=phone_number)
    assert not PhoneNumber.objects.filter(number=NUMBER).exists()


@pytest.mark.django_db
def test_delete_of_a_number_with_sales_is_refused_and_deletes_nothing(
    vendor: VendorProfile,
) -> None:
    # given
    vendor_fund(vendor, 1_00)
    sale = services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00).sale
    before = row_counts()
    # when / then
    with pytest.raises(PhoneNumberInUseError) as refused:
        services.phone_number_delete(actor=vendor.user, phone_number=sale.phone_number)
    assert refused.value.code == "conflict"
    assert refused.value.status_code == 409
    assert row_counts() == before


@pytest.mark.django_db
def test_delete_of_an_unused_number_removes_it_and_is_audited(vendor: VendorProfile) -> None:
    phone = services.phone_number_create(actor=vendor.user, number=NUMBER)
    services.phone_number_delete(actor=vendor.user, phone_number=phone)
    assert not PhoneNumber.objects.exists()
    event = AuditEvent.objects.get(action="phone_number.deleted")
    assert event.changes == {"number": [NUMBER, None], "label": ["", None]}


@pytest.mark.django_db
def test_update_changes_label_and_number_but_never_renumbers_a_sold_to_number(
    vendor: VendorProfile,
) -> None:
    # given
    phone = services.phone_number_create(actor=vendor.user, number=NUMBER, label="a")
    # when: an unused number may be renumbered and relabelled
    phone = services.phone_number_update(
        actor=vendor.user, phone_number=phone, number="+14155550124", label="b"
    )
    # then
    phone.refresh_from_db()
    assert (phone.number, phone.label) == ("+14155550124", "b")
    event = AuditEvent.objects.get(action="phone_number.updated")
    assert event.changes == {"number": [NUMBER, "+14155550124"], "label": ["a", "b"]}
    # given: a sale to it
    vendor_fund(vendor, 1_00)
    services.charge_sale_create(vendor=vendor, phone_number="+14155550124", amount_minor=1_00)
    # then: relabelling works, renumbering is refused
    services.phone_number_update(
        actor=vendor.user, phone_number=phone, number="+14155550124", label="c"
    )
    with pytest.raises(PhoneNumberInUseError):
        services.phone_number_update(
            actor=vendor.user, phone_number=phone, number=NUMBER, label="c"
        )
    phone.refresh_from_db()
    assert (phone.number, phone.label) == ("+14155550124", "c")


@pytest.mark.django_db
def test_update_to_a_registered_number_is_refused(vendor: VendorProfile) -> None:
    PhoneNumberFactory(number=NUMBER)
    phone = services.phone_number_create(actor=vendor.user, number="+14155550124")
    with pytest.raises(PhoneNumberTakenError):
        services.phone_number_update(actor=vendor.user, phone_number=phone, number=NUMBER, label="")
    phone.refresh_from_db()
    assert phone.number == "+14155550124"


@pytest.mark.django_db(transaction=True)
def test_a_delete_racing_a_sale_waits_for_it_then_refuses() -> None:
    # given: a registered number, and a sale to it written but not committed yet
    vendor = VendorFactory()
    vendor_fund(vendor, 1_00)
    phone = services.phone_number_create(actor=vendor.user, number=NUMBER)
    sold, commit = threading.Event(), threading.Event()

    def sell() -> None:
        try:
            with transaction.atomic():
                services.charge_sale_create(vendor=vendor, phone_number=NUMBER, amount_minor=1_00)
                sold.set()
                assert commit.wait(timeout=30)
        finally:
            connection.close()

    def delete() -> str:
        try:
            services.phone_number_delete(actor=vendor.user, phone_number=phone)
            return "deleted"
        except PhoneNumberInUseError:
            return "conflict"
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        seller = pool.submit(sell)
        assert sold.wait(timeout=30)
        # when: the delete starts while the sale holds the number FOR KEY SHARE
        deleter = pool.submit(delete)
        # then: it waits for the sale (on the number's row lock) instead of deleting under it
        lock_wait_for(timeout_seconds=30)
        assert not deleter.done()
        commit.set()
        seller.result(timeout=30)
        assert deleter.result(timeout=30) == "conflict"
    assert PhoneNumber.objects.filter(pk=phone.pk).exists()
    assert ChargeSale.objects.filter(phone_number=phone).count() == 1
