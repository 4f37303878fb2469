"""PostgreSQL binds the parameters and prepares the statements a connection runs often
(DATABASE_SERVER_SIDE_BINDING, DATABASE_PREPARE_THRESHOLD; docs/benchmarks.md)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from environ import ImproperlyConfigured

from config.env import prepare_threshold


def test_prepare_threshold_parses_a_count_or_off() -> None:
    assert prepare_threshold("5") == 5
    assert prepare_threshold("0") == 0
    assert prepare_threshold("off") is None
    assert prepare_threshold("None") is None
    with pytest.raises(ImproperlyConfigured):
        prepare_threshold("-1")


def test_binding_and_preparing_are_on_by_default() -> None:
    options = settings.DATABASES["default"]["OPTIONS"]
    assert options["server_side_binding"] is True
    assert options["prepare_threshold"] == 5


@pytest.mark.django_db
def test_a_statement_run_often_is_prepared_on_its_connection() -> None:
    # given: a statement this connection has not run yet
    sql = "SELECT count(*) FROM django_migrations WHERE app = %s"
    # when: it runs more often than the threshold
    with connection.cursor() as cursor:
        for _ in range(settings.DATABASES["default"]["OPTIONS"]["prepare_threshold"] + 1):
            cursor.execute(sql, ["ledger"])
        # then: PostgreSQL holds it prepared, its parameter bound server-side ($1)
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%django_migrations WHERE app = $1%"],
        )
        assert cursor.fetchone()[0] == 1
