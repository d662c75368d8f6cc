"""The read models of routing's events consume in batches, over a real NATS: casework's and the
family centre's obligations, casework's due times and intake's case access.

All events are in the stream before the service starts, so each consumer takes them as one
batch: every row must be there once, every event claimed once, with fewer commits than messages.
Casework's fulfilments published before their openings (as two routing instances may publish
them) are kept on their first delivery and applied when the openings come: each obligation
ends met once, and nothing is redelivered.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from opentelemetry import trace
from sqlalchemy import Engine, event
from sqlmodel import col, func, select

from services.casework import subscribers as casework_subscribers
from services.casework.handlers import CaseworkDeps
from services.casework.tables import DueTime
from services.intake import subscribers as intake_subscribers
from services.intake.handlers import IntakeDeps
from services.intake.tables import CaseAccess
from shared.bus import make_broker
from shared.clock import FixedClock
from shared.contracts.deadlines import ObligationBreached, ObligationScheduled
from shared.contracts.routing import ReferralIssued, ReferralPurpose
from shared.crypto import FieldCipher, KeyRing
from shared.db import unit_of_work
from shared.inbox import InboxEntry
from shared.natsserver import NatsServer
from shared.obligationsview import ObligationsView, subscribe_obligations
from tests.bus_helpers import connected, publish_events
from tests.integration.test_obligationsview import (
    NOW,
    SCHOOL,
    VIEWS,
    Deps,
    cancellation,
    fulfilment,
    opening,
    rows,
)
from tests.waiting import eventually

COUNT = 20
# Many messages on a machine that may be busy, and casework's retries after 1 s and 5 s.
WAIT = 60.0


def claimed(engine: Engine) -> dict[str, int]:
    with unit_of_work(engine) as session:
        found = session.exec(
            select(InboxEntry.consumer, func.count()).group_by(col(InboxEntry.consumer))
        ).all()
        return {consumer: count for consumer, count in found}


def counting_commits(engine: Engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    return commits


async def settled(url: str, stream: str, durable: str) -> None:
    """Wait until a consumer has acked everything it was given."""
    async with connected(url) as (_, js):

        async def acked() -> bool:
            info = await js.consumer_info(stream, durable)
            return (info.num_pending, info.num_ack_pending) == (0, 0)

        await eventually(acked, f"{durable} acked", WAIT)


@pytest.mark.parametrize("service", sorted(VIEWS))
async def test_batches_of_openings_fulfilments_and_withdrawals_give_each_row_once(
    service: str, migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    view = VIEWS[service]
    deps = Deps(migrated_engine(service), FixedClock(NOW))
    openings = [opening() for _ in range(COUNT)]
    # Casework keeps an opening on a school too; the centre does not even claim it.
    on_a_school = opening("education_org", SCHOOL)
    # Each opening twice (a producer's repeat under a new id): still one row.
    repeats = [each.model_copy(update={"event_id": uuid.uuid4()}) for each in openings[:5]]
    await publish_events(url, *openings, on_a_school, *repeats)
    commits = counting_commits(deps.engine)
    broker = make_broker(url, service=service)
    subscribe_obligations(broker, view, deps)
    await broker.start()
    try:
        await eventually(lambda: len(rows(view, deps)) == COUNT + (service == "casework"), "rows")
        await settled(url, "ROUTING", f"{service}-routing-obligations")
        # Fulfilments and withdrawals after their openings.
        met, withdrawn = openings[: COUNT // 2], openings[COUNT // 2 :]
        await publish_events(
            url,
            *(fulfilment(each) for each in met),
            *(cancellation(each) for each in withdrawn),
        )
        await eventually(
            lambda: (
                sorted(row["status"] for row in rows(view, deps))
                == sorted(["met"] * len(met) + ["cancelled"] * len(withdrawn))
                + (["open"] if service == "casework" else [])
            ),
            "every obligation settled",
            WAIT,
        )
        await settled(url, "ROUTING", f"{service}-routing-obligations")
    finally:
        await broker.stop()

    statuses = {row["obligation_id"]: row["status"] for row in rows(view, deps)}
    assert {str(each.obligation_id) for each in met} == {
        key for key, status in statuses.items() if status == "met"
    }
    assert claimed(deps.engine) == {
        f"{service}-obligation_opened": COUNT + len(repeats) + (service == "casework"),
        f"{service}-obligation_fulfilled": len(met),
        f"{service}-obligation_cancelled": len(withdrawn),
    }
    # 56 messages on one consumer: far fewer transactions than messages.
    assert len(commits) < 10


def kept(view: ObligationsView, deps: Deps) -> list[bool]:
    assert view.pending is not None
    with unit_of_work(deps.engine) as session:
        return [row.applied_at is not None for row in session.exec(select(view.pending)).all()]


async def test_casework_fulfilments_before_their_openings_end_met_once(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    view = VIEWS["casework"]
    deps = Deps(migrated_engine("casework"), FixedClock(NOW))
    openings = [opening() for _ in range(COUNT)]
    fulfilments = [fulfilment(each) for each in openings]
    await publish_events(url, *fulfilments)
    broker = make_broker(url, service="casework")
    subscribe_obligations(broker, view, deps)
    await broker.start()
    try:
        # Each early fulfilment is kept on its first delivery, none retried.
        await eventually(lambda: len(kept(view, deps)) == COUNT, "the early fulfilments kept", WAIT)
        assert rows(view, deps) == []
        await publish_events(url, *openings)
        await eventually(
            lambda: [row["status"] for row in rows(view, deps)] == ["met"] * COUNT,
            "every obligation met",
            WAIT,
        )
        await settled(url, "ROUTING", "casework-routing-obligations")
        async with connected(url) as (_, js):
            info = await js.consumer_info("ROUTING", "casework-routing-obligations")
        assert (info.delivered.consumer_seq, info.num_redelivered) == (2 * COUNT, 0)
    finally:
        await broker.stop()
    assert all(applied for applied in kept(view, deps))
    assert claimed(deps.engine) == {
        "casework-obligation_opened": COUNT,
        "casework-obligation_fulfilled": COUNT,
    }


async def test_casework_keeps_due_times_from_batches(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    engine = migrated_engine("casework")
    deps = CaseworkDeps(
        engine=engine,
        clock=FixedClock(NOW),
        tracer=trace.get_tracer("test"),
        cipher=FieldCipher(KeyRing.generate()),
    )
    openings = [opening() for _ in range(COUNT)]
    due = NOW + timedelta(days=2)
    scheduled = [
        ObligationScheduled(
            **each.follow(),
            producer="deadlines",
            occurred_at=NOW,
            obligation_id=each.obligation_id,
            code=each.code,
            legal_basis=each.legal_basis,
            actor_agency_type=each.actor_agency_type,
            due_at=due,
        )
        for each in openings
    ]
    breached = [
        ObligationBreached(
            **each.follow(),
            producer="deadlines",
            occurred_at=NOW,
            obligation_id=each.obligation_id,
            code=each.code,
            legal_basis=each.legal_basis,
            actor_agency_type=each.actor_agency_type,
            due_at=due,
            breached_at=due,
        )
        for each in openings[:5]
    ]
    await publish_events(url, *scheduled)
    commits = counting_commits(engine)
    broker = make_broker(url, service="casework")
    casework_subscribers.register(broker, deps)
    await broker.start()
    try:
        await settled(url, "DEADLINES", "casework-obligation-scheduled")
        await publish_events(url, *breached)
        await settled(url, "DEADLINES", "casework-obligation-breached")
    finally:
        await broker.stop()
    with unit_of_work(engine) as session:
        times = {
            row.obligation_id: (row.due_at, row.breached_at)
            for row in session.exec(select(DueTime))
        }
    assert times == {
        str(each.obligation_id): (due, due if each in openings[:5] else None) for each in openings
    }
    assert claimed(engine) == {
        "casework-obligation_scheduled": COUNT,
        "casework-obligation_breached": len(breached),
    }
    assert len(commits) < COUNT


async def test_intake_grants_case_access_from_batches(
    migrated_engine: Callable[[str], Engine], nats_restartable: NatsServer
) -> None:
    url = nats_restartable.url
    engine = migrated_engine("intake")
    deps = IntakeDeps(engine=engine, clock=FixedClock(NOW), cipher=FieldCipher(KeyRing.generate()))
    openings = [opening("education_org", SCHOOL) for _ in range(COUNT)]
    referrals = [
        ReferralIssued(
            **each.follow(),
            producer="routing",
            occurred_at=NOW,
            referral_id=uuid.uuid4(),
            code=each.code,
            legal_basis=each.legal_basis,
            from_agency_type="education_org",
            to_agency_id="kz-75-police",
            to_agency_type="police",
            purpose=ReferralPurpose.ACTION,
            region="KZ-75",
            issued_at=NOW,
        )
        for each in openings
    ]
    await publish_events(url, *openings, *referrals)
    commits = counting_commits(engine)
    broker = make_broker(url, service="intake")
    intake_subscribers.register(broker, deps)
    await broker.start()
    try:
        for purpose in ("routing-obligation-opened", "routing-referral-issued"):
            await settled(url, "ROUTING", f"intake-{purpose}")
    finally:
        await broker.stop()
    with unit_of_work(engine) as session:
        access = sorted(
            (row.case_id, row.agency_id, row.relation) for row in session.exec(select(CaseAccess))
        )
    expected = sorted(
        (str(each.case_id), agency, relation)
        for each in openings
        for agency, relation in (
            (SCHOOL, "obligation"),
            ("kz-75-shelter", "obligation"),
            ("kz-75-police", "referral"),
        )
    )
    assert access == expected
    assert claimed(engine) == {
        "intake-routing-obligation-opened": COUNT,
        "intake-routing-referral-issued": COUNT,
    }
    assert len(commits) < COUNT
