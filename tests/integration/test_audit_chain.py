"""The audit log: hash-chained, append-only, and a changed or removed entry is found."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from shared import audit
from shared.db import is_postgres, unit_of_work

KEY = b"k" * 32
T0 = datetime(2026, 11, 20, 10, 0, 0, 123456, tzinfo=UTC)


def access(n: int, *, outcome: str = audit.ALLOWED) -> audit.Access:
    return audit.Access(
        actor=f"officer-{n}",
        role="caseworker",
        agency_id="kz-75-police",
        agency_type="police",
        case_id="3f1c0a52-0000-4000-8000-000000000001",
        action="subject.read",
        fields=("iin", "full_name"),
        purpose="offence_check",
        outcome=outcome,
    )


def fill(engine: Engine, count: int) -> None:
    for n in range(1, count + 1):
        audit.record(engine, access(n), key=KEY, now=T0 + timedelta(seconds=n))


def bypass_guard(engine: Engine, statement: str) -> None:
    """Do what an intruder with database access would: lift the guard, then write."""
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_log_no_delete"))
        connection.execute(text(statement))


@pytest.fixture
def engine(migrated_engine: Callable[[str], Engine]) -> Engine:
    return migrated_engine("intake")


def test_entries_chain_and_verify(engine: Engine) -> None:
    fill(engine, 5)
    assert audit.verify(engine, key=KEY) == []
    with unit_of_work(engine) as session:
        rows = [
            audit.as_dict(e)
            for e in audit.entries(session, case_id="3f1c0a52-0000-4000-8000-000000000001")
        ]
        first_prev = audit.entries(session, case_id=access(1).case_id)[0].prev_hash
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert first_prev == audit.GENESIS
    assert rows[0]["fields"] == ["full_name", "iin"]
    assert rows[0]["purpose"] == "offence_check"


def test_the_database_refuses_to_change_or_delete_an_entry(engine: Engine) -> None:
    fill(engine, 2)
    for statement in (
        "UPDATE audit_log SET purpose = 'curiosity' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 2",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert audit.verify(engine, key=KEY) == []


def test_a_changed_entry_is_named(engine: Engine) -> None:
    fill(engine, 5)
    bypass_guard(engine, "UPDATE audit_log SET agency_id = 'kz-75-shelter' WHERE seq = 3")
    assert audit.verify(engine, key=KEY) == [
        "entry 3: changed (its hash does not match its content)"
    ]


def test_a_rehashed_entry_is_still_found_without_the_key(engine: Engine) -> None:
    fill(engine, 3)
    with unit_of_work(engine) as session:
        entry = audit.entries(session, case_id=access(1).case_id)[1]
        entry.purpose = "curiosity"
        forged = audit.digest(entry, key=b"not the key" * 3)
    bypass_guard(
        engine, f"UPDATE audit_log SET purpose = 'curiosity', hash = '{forged}' WHERE seq = 2"
    )
    problems = audit.verify(engine, key=KEY)
    assert "entry 2: changed (its hash does not match its content)" in problems
    assert "entry 3: does not follow entry 2" in problems


def test_a_removed_entry_is_named(engine: Engine) -> None:
    fill(engine, 5)
    bypass_guard(engine, "DELETE FROM audit_log WHERE seq = 2")
    assert audit.verify(engine, key=KEY) == ["entry 2 removed (the log jumps to entry 3)"]


def test_entries_removed_at_the_end_are_found(engine: Engine) -> None:
    fill(engine, 5)
    bypass_guard(engine, "DELETE FROM audit_log WHERE seq >= 4")
    assert audit.verify(engine, key=KEY) == [
        "entries 4-5 removed at the end (the head names entry 5, the log ends at 3)"
    ]


def test_concurrent_writers_keep_one_unbroken_chain(engine: Engine) -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for n in range(10):
                audit.record(engine, access(worker * 100 + n), key=KEY, now=T0)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert audit.verify(engine, key=KEY) == []
    with unit_of_work(engine) as session:
        assert len(audit.entries(session, case_id=access(1).case_id)) == 40
