"""Identity's guarded selectors and services called directly: the rules hold whichever
interface (API, admin, a task, a future endpoint) calls them."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from tally.identity import selectors, services
from tally.identity.exceptions import FieldInvalidError, PhoneTakenError, VendorInactiveError
from tally.identity.models import ApiKey, CustomerProfile, Role, User, VendorProfile
from tally.identity.tests.factories import (
    AdminFactory,
    CustomerFactory,
    PartnerFactory,
    VendorFactory,
)
from tally.platform.audit.models import AuditEvent
from tally.platform.exceptions import NotFoundError, PermissionDeniedError
from tally.platform.testing.race import lock_wait_for, transaction_held

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, int, int]:
    return User.objects.count(), CustomerProfile.objects.count(), AuditEvent.objects.count()


# --- customer_get_for_funding -----------------------------------------------------------


def test_any_vendor_gets_any_customer_to_fund_it() -> None:
    # given: a customer who signed up alone, one created by another vendor
    vendor = VendorFactory()
    alone = CustomerFactory()
    others = CustomerFactory(created_by=VendorFactory().user)
    # when
    found = [
        selectors.customer_get_for_funding(actor=vendor.user, customer_id=customer.user_id)
        for customer in (alone, others)
    ]
    # then
    assert [customer.user_id for customer in found] == [alone.user_id, others.user_id]


@pytest.mark.parametrize("factory", [AdminFactory, lambda: CustomerFactory().user])
def test_only_vendors_fund_customers(factory: object) -> None:
    # given
    actor = factory()  # type: ignore[operator]
    customer = CustomerFactory()
    # when / then
    with pytest.raises(PermissionDeniedError):
        selectors.customer_get_for_funding(actor=actor, customer_id=customer.user_id)


def test_funding_an_unknown_customer_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        selectors.customer_get_for_funding(actor=VendorFactory().user, customer_id=uuid.uuid4())


# --- customer_create --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_actor", "error"),
    [
        (lambda: VendorFactory(inactive=True).user, VendorInactiveError),
        (lambda: CustomerFactory().user, PermissionDeniedError),
        (lambda: PartnerFactory().user, PermissionDeniedError),
    ],
    ids=["inactive-vendor", "customer", "partner"],
)
def test_customer_create_refuses_and_writes_nothing(make_actor: object, error: type) -> None:
    # given
    actor = make_actor()  # type: ignore[operator]
    before = counts()
    # when / then
    with pytest.raises(error):
        services.customer_create(actor=actor, email="c@example.com", phone="+14155550142")
    assert counts() == before


def test_customer_create_records_its_creator() -> None:
    # given
    vendor = VendorFactory()
    # when
    customer = services.customer_create(
        actor=vendor.user, email="C@Example.com", phone="+14155550142", full_name="C D"
    )
    # then
    customer.refresh_from_db()
    assert (customer.created_by_id, customer.user.email, customer.user.has_usable_password()) == (
        vendor.user_id,
        "c@example.com",
        False,
    )


def test_a_vendor_deactivated_after_loading_is_refused() -> None:
    # given: the vendor's user was loaded while it was active (its profile cached on it)
    vendor = VendorFactory()
    actor = vendor.user
    assert actor.vendor_profile.is_active is True
    VendorProfile.objects.filter(pk=vendor.pk).update(is_active=False)
    before = counts()
    # when / then: the rule reads the vendor now, not the cached copy
    with pytest.raises(VendorInactiveError):
        services.customer_create(actor=actor, email="c@example.com", phone="+14155550142")
    assert counts() == before


# --- masked names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Ada Lovelace", "A*** L***"),
        ("Eve", "E***"),
        ("", ""),
        ("Jean-Luc  de Picard", "J***  d*** P***"),
        ("Émile Zola", "É*** Z***"),
    ],
)
def test_masked_name_keeps_the_first_letter_of_each_word(full_name: str, expected: str) -> None:
    # given
    customer = CustomerFactory(user__full_name=full_name)
    other = VendorFactory()
    # when
    (found,) = selectors.customer_list_for_actor(actor=other.user, phone=customer.phone)
    # then
    assert (found.masked_name, found.details_visible) == (expected, False)


# --- other guarded reads and writes -----------------------------------------------------


def test_a_vendor_sees_only_itself_and_others_see_no_vendor() -> None:
    # given
    vendor, other = VendorFactory(), VendorFactory()
    # then
    assert list(selectors.vendor_list_for_actor(actor=vendor.user)) == [vendor]
    assert selectors.vendor_get_for_actor(actor=vendor.user, vendor_id=vendor.user_id) == vendor
    with pytest.raises(NotFoundError):
        selectors.vendor_get_for_actor(actor=vendor.user, vendor_id=other.user_id)
    for actor in (CustomerFactory().user, PartnerFactory().user):
        with pytest.raises(PermissionDeniedError):
            selectors.vendor_list_for_actor(actor=actor)
        with pytest.raises(PermissionDeniedError):
            selectors.vendor_get_for_actor(actor=actor, vendor_id=vendor.user_id)


def test_a_vendor_cannot_change_another_vendor() -> None:
    # given
    vendor, other = VendorFactory(), VendorFactory(business_name="Other")
    # when / then
    with pytest.raises(PermissionDeniedError):
        services.vendor_update(actor=vendor.user, vendor=other, data={"business_name": "Mine"})
    other.refresh_from_db()
    assert other.business_name == "Other"
    assert not AuditEvent.objects.filter(action="vendor.updated").exists()


@pytest.mark.parametrize("change", ["activate", "deactivate", "close"])
def test_only_admins_change_a_vendors_activation(change: str) -> None:
    # given: a vendor asks to change itself, and another vendor tries too
    vendor = VendorFactory(inactive=change == "activate")
    before = (vendor.is_active, AuditEvent.objects.count())
    service = {
        "activate": services.vendor_activate,
        "deactivate": services.vendor_deactivate,
        "close": services.vendor_close,
    }[change]
    # when / then
    for actor in (vendor.user, VendorFactory().user, CustomerFactory().user):
        with pytest.raises(PermissionDeniedError):
            service(actor=actor, vendor=vendor)
    vendor.refresh_from_db()
    assert (vendor.is_active, AuditEvent.objects.count()) == before
    assert User.objects.get(pk=vendor.user_id).is_active is True


def test_only_admins_create_vendors() -> None:
    # given
    actor = VendorFactory().user
    before = counts(), VendorProfile.objects.count()
    # when / then
    with pytest.raises(PermissionDeniedError):
        services.vendor_create(
            actor=actor, email="v@example.com", password="correct-horse-battery", business_name="V"
        )
    assert (counts(), VendorProfile.objects.count()) == before


def test_nobody_revokes_another_users_key() -> None:
    # given
    owner, intruder = VendorFactory(), VendorFactory()
    issued = services.api_key_create(user=owner.user, name="till")
    # when / then
    with pytest.raises(NotFoundError):
        services.api_key_revoke(user=intruder.user, api_key=issued.api_key)
    assert ApiKey.objects.get(pk=issued.api_key.pk).revoked_at is None
    with pytest.raises(NotFoundError):
        selectors.api_key_get_for_actor(actor=intruder.user, api_key_id=issued.api_key.pk)
    with pytest.raises(PermissionDeniedError):
        selectors.api_key_list_for_actor(actor=CustomerFactory().user)


def test_a_weak_password_is_a_validation_error_naming_the_field() -> None:
    # given
    before = counts()
    # when
    with pytest.raises(FieldInvalidError) as refused:
        services.user_register(
            email="w@example.com", password="123", role=Role.CUSTOMER, phone="+14155550142"
        )
    # then
    assert (refused.value.status_code, refused.value.code) == (400, "validation_error")
    assert [error["field"] for error in refused.value.extra["errors"]] == ["password"] * len(
        refused.value.extra["errors"]
    )
    assert refused.value.extra["errors"]
    assert counts() == before


# --- concurrency ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_phone_change_racing_a_sign_up_for_the_number_is_phone_taken() -> None:
    # given: a sign-up for the number has written its row but not committed yet, so the
    # change's duplicate check cannot see it; only the unique index can
    customer = CustomerFactory(phone="+14155550141")

    def sign_up() -> User:
        return services.user_register(
            email="racer@example.com",
            password="correct-horse-battery",
            role=Role.CUSTOMER,
            phone="+14155550142",
        )

    def change() -> User:
        try:
            return services.user_update_profile(user=customer.user, data={"phone": "+14155550142"})
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        with transaction_held(sign_up):
            # when: the change waits on the index for the sign-up, which then commits
            changing = pool.submit(change)
            lock_wait_for()
        # then: a domain error, not an IntegrityError (a 500)
        with pytest.raises(PhoneTakenError):
            changing.result(timeout=30)
    customer.refresh_from_db()
    assert customer.phone == "+14155550141"
    assert CustomerProfile.objects.get(phone="+14155550142").user.email == "racer@example.com"
    assert not AuditEvent.objects.filter(action="user.profile_updated").exists()
