"""The ledger admin pages list and search, and never let anyone add, edit or delete."""

from __future__ import annotations

import pytest
from django.test import Client

from tally.identity.models import User
from tally.ledger.models import Account, Entry, Transfer
from tally.ledger.testing import fund, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_ledger_pages_list_and_search(staff: Client, prepaid: Account) -> None:
    # given
    transfer = fund(prepaid, 500)
    email = prepaid.owner.email  # type: ignore[union-attr]
    # when
    accounts = staff.get("/admin/ledger/account/", {"q": email})
    transfers = staff.get("/admin/ledger/transfer/", {"q": email})
    entries = staff.get("/admin/ledger/entry/", {"q": "test_prepaid"})
    by_kind = staff.get("/admin/ledger/account/", {"q": "test_issuance"})
    nothing = staff.get("/admin/ledger/transfer/", {"q": "no-such-reference"})
    # then
    assert accounts.status_code == transfers.status_code == entries.status_code == 200
    assert list(accounts.context["cl"].result_list) == [prepaid]
    assert list(transfers.context["cl"].result_list) == [transfer]
    assert [entry.account_id for entry in entries.context["cl"].result_list] == [prepaid.id]
    assert [account.kind for account in by_kind.context["cl"].result_list] == ["test_issuance"]
    assert list(nothing.context["cl"].result_list) == []


def test_ledger_pages_are_read_only(staff: Client, prepaid: Account) -> None:
    # given
    transfer = fund(prepaid, 500)
    before = row_counts()
    # when
    add = staff.get("/admin/ledger/transfer/add/")
    view = staff.get(f"/admin/ledger/transfer/{transfer.id}/change/")
    edit = staff.post(f"/admin/ledger/account/{prepaid.id}/change/", {"balance": "999999"})
    delete = staff.post(f"/admin/ledger/transfer/{transfer.id}/delete/", {"post": "yes"})
    # then
    assert add.status_code == 403
    assert view.status_code == 200
    assert b"Save" not in view.content
    assert edit.status_code == 403
    assert delete.status_code == 403
    prepaid.refresh_from_db()
    assert prepaid.balance == 500
    assert Transfer.objects.filter(id=transfer.id).exists()
    assert row_counts() == before


def test_accounts_transfers_and_entries_link_to_each_other(
    staff: Client, prepaid: Account, other_prepaid: Account
) -> None:
    # given: two transfers into the prepaid account, one into another account
    first = fund(prepaid, 500)
    second = fund(prepaid, 700)
    fund(other_prepaid, 900)
    entry = Entry.objects.get(transfer=second, account=prepaid)
    # when
    account_page = staff.get(f"/admin/ledger/account/{prepaid.id}/change/").content.decode()
    transfer_page = staff.get(f"/admin/ledger/transfer/{second.id}/change/").content.decode()
    entries = staff.get("/admin/ledger/entry/", {"account": prepaid.id})
    transfers_in = staff.get("/admin/ledger/transfer/", {"credit_account": prepaid.id})
    owned = staff.get("/admin/ledger/account/", {"owner": str(prepaid.owner_id)})
    # then: the account lists its entries newest first, each linked to its transfer
    transfer_links = [
        account_page.index(f'href="/admin/ledger/transfer/{t.id}/change/"') for t in (second, first)
    ]
    assert transfer_links == sorted(transfer_links)
    assert f'href="/admin/ledger/entry/?account={prepaid.id}"' in account_page
    assert f'href="/admin/ledger/transfer/?credit_account={prepaid.id}"' in account_page
    # the transfer links both accounts through its entries
    assert f'href="/admin/ledger/account/{prepaid.id}/change/"' in transfer_page
    assert f'href="/admin/ledger/account/{second.debit_account_id}/change/"' in transfer_page
    # the filtered lists hold only this account's rows
    assert entries.status_code == transfers_in.status_code == owned.status_code == 200
    assert {e.account_id for e in entries.context["cl"].result_list} == {prepaid.id}
    assert entry in entries.context["cl"].result_list
    assert list(transfers_in.context["cl"].result_list) == [second, first]
    assert list(owned.context["cl"].result_list) == [prepaid]
