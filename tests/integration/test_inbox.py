"""The inbox claim on SQLite and PostgreSQL: once per consumer, and a concurrent twin waits.

`claim` is one INSERT ... ON CONFLICT DO NOTHING on the inbox's primary key. A twin of an event
being handled in another, uncommitted transaction waits for it; it then sees the event as
handled (the first committed) or takes it (the first rolled back). It never applies it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlmodel import select

from shared.db import unit_of_work
from shared.inbox import InboxEntry, claim

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_a_repeat_is_refused_and_the_row_keeps_its_time(
    migrated_engine: Callable[[str], Engine],
) -> None:
    engine = migrated_engine("routing")
    with unit_of_work(engine) as session:
        assert claim(session, consumer="c", event_id="e1", now=NOW) is True
        # Twice in one transaction: the second is a repeat too.
        assert claim(session, consumer="c", event_id="e1", now=NOW) is False
        session.commit()
    with unit_of_work(engine) as session:
        assert claim(session, consumer="c", event_id="e1", now=NOW) is False
        assert claim(session, consumer="other", event_id="e1", now=NOW) is True
        session.commit()
    with unit_of_work(engine) as session:
        rows = session.exec(select(InboxEntry).order_by(InboxEntry.consumer)).all()
        assert [(row.consumer, row.event_id, row.handled_at) for row in rows] == [
            ("c", "e1", NOW),
            ("other", "e1", NOW),
        ]


def test_a_claim_rolled_back_is_not_kept(migrated_engine: Callable[[str], Engine]) -> None:
    engine = migrated_engine("routing")
    with unit_of_work(engine) as session:
        assert claim(session, consumer="c", event_id="e2", now=NOW) is True
        # No commit: the handler failed, and the event is handled again on redelivery.
    with unit_of_work(engine) as session:
        assert claim(session, consumer="c", event_id="e2", now=NOW) is True


@pytest.mark.parametrize("first_commits", [True, False])
def test_a_concurrent_twin_waits_for_the_first(
    migrated_engine: Callable[[str], Engine], first_commits: bool
) -> None:
    engine = migrated_engine("routing")
    twin_claimed: list[bool] = []
    with unit_of_work(engine) as first:
        assert claim(first, consumer="c", event_id="e3", now=NOW) is True

        def twin() -> None:
            with unit_of_work(engine) as session:
                twin_claimed.append(claim(session, consumer="c", event_id="e3", now=NOW))
                session.commit()

        thread = threading.Thread(target=twin)
        thread.start()
        thread.join(timeout=1.0)
        # The twin is held by the first's uncommitted claim (the key, or the write lock).
        assert thread.is_alive() and not twin_claimed
        if first_commits:
            first.commit()
        else:
            first.rollback()
    thread.join(timeout=30)
    assert not thread.is_alive()
    # Handled once: by the first if it committed, else by the twin.
    assert twin_claimed == [not first_commits]
    with unit_of_work(engine) as session:
        assert len(session.exec(select(InboxEntry).where(InboxEntry.event_id == "e3")).all()) == 1
