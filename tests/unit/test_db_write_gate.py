"""SQLite writers of one process queue on a gate, not in SQLite's sleeping busy handler."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import Engine

from shared.db import _gate_for, make_engine, unit_of_work


def _table(engine: Engine) -> sa.Table:
    metadata = sa.MetaData()
    table = sa.Table("rows", metadata, sa.Column("id", sa.Integer, primary_key=True))
    metadata.create_all(engine)
    return table


def test_concurrent_writers_all_commit_and_the_gate_opens_after_each(tmp_path: Path) -> None:
    path = tmp_path / "gate.db"
    engine = make_engine(f"sqlite:///{path}")
    table = _table(engine)
    errors: list[BaseException] = []

    def writer(start: int) -> None:
        try:
            for offset in range(50):
                with unit_of_work(engine) as session:
                    session.execute(sa.insert(table).values(id=start + offset))
                    session.commit()
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n * 1000,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 400
    assert not _gate_for(str(path))._lock.locked()


def test_a_rolled_back_write_opens_the_gate_and_a_read_never_takes_it(tmp_path: Path) -> None:
    path = tmp_path / "gate.db"
    engine = make_engine(f"sqlite:///{path}")
    table = _table(engine)
    gate = _gate_for(str(path))
    with unit_of_work(engine) as session:
        session.execute(sa.select(table)).all()
        assert not gate._lock.locked()
        session.execute(sa.insert(table).values(id=1))
        assert gate._lock.locked()
    # unit_of_work rolled back: nothing stored, and the next writer gets in at once.
    assert not gate._lock.locked()
    with unit_of_work(engine) as session:
        session.execute(sa.insert(table).values(id=2))
        session.commit()
    assert not gate._lock.locked()
    with engine.connect() as connection:
        assert connection.execute(sa.select(table.c.id)).scalars().all() == [2]


def test_one_thread_writing_through_two_connections_is_left_to_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "gate.db"
    engine = make_engine(f"sqlite:///{path}")
    table = _table(engine)
    with unit_of_work(engine) as first:
        first.execute(sa.insert(table).values(id=1))
        with unit_of_work(engine) as second:
            second.execute(sa.text("PRAGMA busy_timeout=200"))
            # Without the owner check this thread would wait on itself for the gate's timeout.
            try:
                second.execute(sa.insert(table).values(id=2))
            except sa.exc.OperationalError as error:
                assert "locked" in str(error)
        first.commit()
    with engine.connect() as connection:
        assert connection.execute(sa.select(table.c.id)).scalars().all() == [1]
