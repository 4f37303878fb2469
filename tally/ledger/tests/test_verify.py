"""verify_ledger finds every kind of corruption and says where; clean ledgers pass."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from rest_framework.test import APIClient

from tally.ledger import services, testing
from tally.ledger.models import Account, Entry, Transfer
from tally.ledger.testing import fund
from tally.ledger.verification import VerificationReport, ledger_verify, verification_checks

pytestmark = pytest.mark.django_db


def failed(report: VerificationReport) -> dict[str, list[dict[str, object]]]:
    return {check.name: check.sample for check in report.failed}


def give(debit: Account, credit: Account, amount_minor: int) -> Transfer:
    with transaction.atomic():
        return services.transfer_create(
            debit_account=debit,
            credit_account=credit,
            amount_minor=amount_minor,
            code=testing.PAYMENT,
        ).transfer


def tamper(sql: str, params: list[object]) -> None:
    """Write past the append-only trigger, as only an attacker or a bug could."""
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run while deferred FK checks of this transaction wait.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE ledger_entry DISABLE TRIGGER ledger_entry_append_only")
        cursor.execute(sql, params)
        cursor.execute("ALTER TABLE ledger_entry ENABLE TRIGGER ledger_entry_append_only")


@pytest.fixture
def busy_ledger(prepaid: Account, wallet: Account, settlement: Account) -> Transfer:
    """A little of everything: postings, a partial post, a void, an open reservation."""
    fund(prepaid, 1_000)
    gift = give(prepaid, wallet, 300)
    with transaction.atomic():
        for amount, outcome in ((100, "post"), (50, "void"), (25, "open")):
            pending = services.transfer_create_pending(
                debit_account=wallet,
                credit_account=settlement,
                amount_minor=amount,
                code=testing.ACTIVATION,
            )
            if outcome == "post":
                services.transfer_post_pending(pending=pending, amount_minor=60)
            elif outcome == "void":
                services.transfer_void_pending(pending=pending)
        services.account_roll_up(account=settlement)
    return gift


def test_a_clean_ledger_passes_every_check(busy_ledger: Transfer) -> None:
    # when
    report = ledger_verify()
    # then
    assert report.ok
    assert [check.name for check in report.checks] == [
        check.name for check in verification_checks()
    ]
    assert all(check.mismatches == 0 and check.sample == [] for check in report.checks)
    assert report.counts == {"accounts": 4, "transfers": 7, "entries": 6}


def test_verify_catches_a_corrupted_balance(busy_ledger: Transfer, wallet: Account) -> None:
    # given: someone adds one cent to a wallet row
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [wallet.id])
    # when
    report = ledger_verify()
    # then
    assert not report.ok
    problems = failed(report)
    assert problems["account_balances"] == [
        {
            "account_id": wallet.id,
            "kind": "test_wallet",
            "owner_id": str(wallet.owner_id),
            "stored_balance": 241,
            "entries_sum": 240,
        }
    ]
    assert problems["zero_sum"] == [{"entries_total": 0, "balances_total": 1}]


def test_verify_catches_a_missing_entry(busy_ledger: Transfer, wallet: Account) -> None:
    # given: the credit entry of the gift disappears
    tamper(
        "DELETE FROM ledger_entry WHERE transfer_id = %s AND account_id = %s",
        [busy_ledger.id, wallet.id],
    )
    # when
    report = ledger_verify()
    # then
    problems = failed(report)
    assert problems["transfer_entries"] == [
        {"transfer_id": str(busy_ledger.id), "kind": "immediate", "amount": 300, "entries": 1}
    ]
    assert problems["account_balances"][0]["account_id"] == wallet.id
    assert problems["zero_sum"] == [{"entries_total": -300, "balances_total": 0}]


def test_verify_catches_a_broken_zero_sum(busy_ledger: Transfer, wallet: Account) -> None:
    # given: the gift's credit entry and the wallet agree on 50 more than was debited,
    # so every per-account check still passes
    tamper(
        "UPDATE ledger_entry SET amount = amount + 50, balance_after = balance_after + 50"
        " WHERE transfer_id = %s AND account_id = %s",
        [busy_ledger.id, wallet.id],
    )
    tamper(
        "UPDATE ledger_entry SET balance_after = balance_after + 50"
        " WHERE account_id = %s AND transfer_id <> %s",
        [wallet.id, busy_ledger.id],
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_account SET balance = balance + 50 WHERE id = %s", [wallet.id]
        )
    # when
    report = ledger_verify()
    # then
    problems = failed(report)
    assert problems["zero_sum"] == [{"entries_total": 50, "balances_total": 50}]
    assert "account_balances" not in problems
    assert "running_balances" not in problems
    assert problems["transfer_entries"][0]["transfer_id"] == str(busy_ledger.id)


def test_verify_catches_a_wrong_pending_total(busy_ledger: Transfer, wallet: Account) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET pending_debits = 0 WHERE id = %s", [wallet.id])
    problems = failed(ledger_verify())
    assert problems == {
        "pending_debits": [
            {
                "account_id": wallet.id,
                "kind": "test_wallet",
                "owner_id": str(wallet.owner_id),
                "stored_pending_debits": 0,
                "open_pending_sum": 25,
            }
        ]
    }


def test_verify_catches_a_broken_running_balance(busy_ledger: Transfer, wallet: Account) -> None:
    tamper(
        "UPDATE ledger_entry SET balance_after = 7 WHERE transfer_id = %s AND account_id = %s",
        [busy_ledger.id, wallet.id],
    )
    problems = failed(ledger_verify())
    assert set(problems) == {"running_balances"}
    assert {row["account_id"] for row in problems["running_balances"]} == {wallet.id}


def test_command_exits_zero_and_reports_ok_on_a_clean_ledger(busy_ledger: Transfer) -> None:
    out = io.StringIO()
    call_command("verify_ledger", stdout=out)
    text = out.getvalue()
    assert "Result: OK" in text
    assert text.count("[ok  ]") == len(verification_checks())


def test_command_fails_with_a_readable_report_on_a_mismatch(
    busy_ledger: Transfer, wallet: Account
) -> None:
    # given
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [wallet.id])
    out = io.StringIO()
    # when
    with pytest.raises(CommandError, match="account_balances, zero_sum") as raised:
        call_command("verify_ledger", stdout=out)
    # then
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "[FAIL] account_balances" in text
    assert f'"account_id": {wallet.id}' in text
    assert "Result: FAILED (2 check(s))" in text


def test_verify_api_reports_to_admins(
    admin_client: APIClient, busy_ledger: Transfer, wallet: Account
) -> None:
    # when
    clean = admin_client.get("/api/v1/ledger/verify/")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_account SET balance = balance + 1 WHERE id = %s", [wallet.id])
    broken = admin_client.get("/api/v1/ledger/verify/")
    # then
    assert clean.status_code == 200
    assert clean.json()["ok"] is True
    assert clean.json()["counts"] == {"accounts": 4, "transfers": 7, "entries": 6}
    assert [check["name"] for check in clean.json()["checks"]] == [
        c.name for c in verification_checks()
    ]
    assert broken.status_code == 200
    body = broken.json()
    assert body["ok"] is False
    by_name = {check["name"]: check for check in body["checks"]}
    assert by_name["account_balances"]["mismatches"] == 1
    assert by_name["account_balances"]["sample"][0]["account_id"] == wallet.id


def test_verify_api_is_for_admins_only(vendor_client: APIClient, api_client: APIClient) -> None:
    forbidden = vendor_client.get("/api/v1/ledger/verify/")
    anonymous = api_client.get("/api/v1/ledger/verify/")
    assert (forbidden.status_code, forbidden.json()["code"]) == (403, "permission_denied")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")


def test_entries_table_is_untouched_by_verification(busy_ledger: Transfer) -> None:
    before = list(Entry.objects.order_by("id").values_list("id", "amount", "balance_after"))
    ledger_verify()
    assert list(Entry.objects.order_by("id").values_list("id", "amount", "balance_after")) == before


def test_verify_catches_entries_whose_transfer_vanished(
    busy_ledger: Transfer, prepaid: Account
) -> None:
    # given: the gift's transfer row is deleted behind every trigger and foreign key,
    # and a new posting transfer without entries makes the entry count add up again
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("DELETE FROM ledger_transfer WHERE id = %s", [busy_ledger.id])
        cursor.execute(
            "INSERT INTO ledger_transfer (id, kind, code, debit_account_id, credit_account_id,"
            " amount, reference, metadata, idempotency_scope, created_at)"
            " SELECT gen_random_uuid(), kind, code, debit_account_id, credit_account_id,"
            " amount, 'replacement', metadata, '', now() FROM ledger_transfer"
            " WHERE kind = 'immediate' LIMIT 1"
        )
        cursor.execute("SET LOCAL session_replication_role = DEFAULT")
    # when
    problems = failed(ledger_verify())
    # then
    assert {"transfer_id": str(busy_ledger.id), "kind": None, "amount": None, "entries": 2} in (
        problems["transfer_entries"]
    )
    assert len(problems["transfer_entries"]) == 2  # the orphans' transfer and the replacement
