"""Routing's handlers on real databases (SQLite and PostgreSQL): rows, outbox, replays, answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import select

from services.routing import domain, handlers, repository
from services.routing.api import AgencyChange, AgencyIn
from services.routing.config import SEED_DIRECTORY
from services.routing.handlers import RoutingDeps
from services.routing.tables import Referral, RoutingObligation
from shared.clock import FixedClock
from shared.contracts.deadlines import ObligationEscalated
from shared.contracts.intake import Flags, ReportJoined, ReportReceived
from shared.contracts.routing import AgencyAcknowledgement, AgencyDecline, DeclineReason
from shared.db import unit_of_work
from shared.inbox import InboxEntry
from shared.outbox import OutboxRow
from shared.telemetry import read_spans, setup_tracing

NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
SCHOOL = ("education_org", "school-17")
CRR = "kz-75-child-rights-regional"
POLICE = "kz-75-police"
GUARDIANSHIP = "kz-75-guardianship"
PROSECUTOR = "kz-75-prosecutor"


@dataclass
class Routing:
    """Routing's handlers on a migrated, seeded database, with a clock the test moves."""

    engine: Engine
    clock: FixedClock
    deps: RoutingDeps

    def referrals(self, case_id: uuid.UUID | str) -> list[Referral]:
        with unit_of_work(self.engine) as session:
            rows = repository.referrals_of_case(session, case_id=str(case_id))
            session.expunge_all()
            return rows

    def obligations(self, case_id: uuid.UUID | str) -> list[RoutingObligation]:
        with unit_of_work(self.engine) as session:
            rows = repository.obligations_of_case(session, case_id=str(case_id))
            session.expunge_all()
            return rows

    def referral(self, case_id: uuid.UUID | str, code: str, to: str) -> Referral:
        found = [r for r in self.referrals(case_id) if r.code == code and r.to_agency_id == to]
        assert len(found) == 1, found
        return found[0]

    def outbox(self, *, subject: str | None = None, prefix: str = "") -> list[dict[str, Any]]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(OutboxRow).order_by(OutboxRow.id)).all()  # type: ignore[arg-type]
            return [
                {"subject": r.subject, **json.loads(r.payload)}
                for r in rows
                if (subject is None or r.subject == subject) and r.subject.startswith(prefix)
            ]

    def snapshot(self) -> dict[str, Any]:
        """Everything routing's handlers write, but the inbox."""
        with unit_of_work(self.engine) as session:
            return {
                "referrals": sorted(
                    (r.referral_id, r.status, r.to_agency_id)
                    for r in session.exec(select(Referral)).all()
                ),
                "obligations": sorted(
                    (o.obligation_id, o.status, o.code)
                    for o in session.exec(select(RoutingObligation)).all()
                ),
                "outbox": sorted(
                    (r.subject, r.event_id) for r in session.exec(select(OutboxRow)).all()
                ),
            }


def make_routing(engine: Engine, tracer_provider: TracerProvider | None = None) -> Routing:
    clock = FixedClock(NOW)
    provider = tracer_provider or TracerProvider()
    deps = RoutingDeps(engine=engine, clock=clock, tracer=provider.get_tracer("test"))
    handlers.seed_directory(deps=deps, path=SEED_DIRECTORY)
    return Routing(engine, clock, deps)


@pytest.fixture
def routing(migrated_engine: Callable[[str], Engine]) -> Iterator[Routing]:
    yield make_routing(migrated_engine("routing"))


def report(
    *,
    reporter: tuple[str, str | None] = SCHOOL,
    concerns: tuple[str, ...] = ("violence",),
    subject_kind: str = "minor",
    flags: Flags | None = None,
    received_at: datetime | None = None,
    case_id: uuid.UUID | None = None,
) -> ReportReceived:
    report_id = uuid.uuid4()
    return ReportReceived(
        occurred_at=NOW,
        case_id=case_id or uuid.uuid4(),
        correlation_id=report_id,
        producer="intake",
        report_id=report_id,
        reporter_agency_type=reporter[0],
        reporter_agency_id=reporter[1],
        region="KZ-75",
        channel="duties",
        received_at=received_at or NOW - timedelta(minutes=5),
        subject_kind=subject_kind,
        concerns=concerns,
        flags=flags or Flags(),
    )


def joined(
    case_id: uuid.UUID, *, reporter: tuple[str, str | None] = SCHOOL, flags: Flags | None = None
) -> ReportJoined:
    report_id = uuid.uuid4()
    return ReportJoined(
        occurred_at=NOW,
        case_id=case_id,
        correlation_id=report_id,
        producer="intake",
        report_id=report_id,
        reporter_agency_type=reporter[0],
        reporter_agency_id=reporter[1],
        region="KZ-75",
        received_at=NOW,
        concerns=("violence",),
        flags=flags or Flags(),
    )


def test_a_schools_report_is_delivered_and_every_obligation_published(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)

    referrals = routing.referrals(event.case_id)
    assert sorted((r.code, r.to_agency_id) for r in referrals) == sorted(
        [
            ("R1", POLICE),
            ("R1", CRR),
            ("R1", "kz-75-ombudsman-regional"),
            # One referral to the commission names R6 and R12; one to the national body G6
            # and R7 (each row stays its own obligation).
            ("R6", "kz-75-minors-commission"),
            ("G4", GUARDIANSHIP),
            ("G6", "kz-child-rights-national"),
            # Those who join R9's visit are told (p.12.3); the centre's names R9 and R13.
            ("R9", "kz-75-mobile-group"),
            ("R9", "kz-75-psych-support-centre"),
            ("R14", "kz-ombudsman-national"),
        ]
    )
    assert all(r.status == "issued" and r.ack_due_at == NOW + timedelta(hours=1) for r in referrals)
    for r in referrals:
        # Delivered on the agency's own subject, and on routing's for integrators.
        on_agency = routing.outbox(subject=f"qorgau.agency.{r.to_agency_id}.referral_issued.v1")
        assert r.referral_id in {m["referral_id"] for m in on_agency}
    issued = routing.outbox(subject="qorgau.routing.referral_issued.v1")
    assert len(issued) == len(referrals)

    obligations = routing.obligations(event.case_id)
    opened = routing.outbox(subject="qorgau.routing.obligation_opened.v1")
    fulfilled = routing.outbox(subject="qorgau.routing.obligation_fulfilled.v1")
    assert {o["obligation_id"] for o in opened} == {o.obligation_id for o in obligations}
    # Every transfer is made by the platform at once, and recorded met by it when delivered.
    transfers = {o.obligation_id for o in obligations if o.kind == "transfer"}
    assert {f["obligation_id"] for f in fulfilled} == transfers
    assert all(
        f["met_by_platform"] and datetime.fromisoformat(f["met_at"]) == NOW for f in fulfilled
    )
    r1 = next(o for o in opened if o["code"] == "R1" and o["target_agency_id"] == POLICE)
    assert (r1["actor_agency_type"], r1["actor_agency_id"], r1["term"], r1["legal_basis"]) == (
        "education_org",
        "school-17",
        "immediate",
        "Rules 38874, p.8",
    )
    assert datetime.fromisoformat(r1["started_at"]) == event.received_at
    # A row the text gives no term is opened with term "none": tracked, never due.
    r16 = next(o for o in opened if o["code"] == "R16")
    assert (r16["actor_agency_id"], r16["term"]) == (POLICE, "none")
    actions = {o.code for o in obligations if o.kind == "action" and o.status == "open"}
    assert actions == set("R3 R4 R8 R9 R13 R16 R18 R19 R20 R21 G1 G2 G5".split())


def test_replaying_every_event_twice_changes_nothing(routing: Routing) -> None:
    first = report()
    events: list[Callable[[], None]] = [
        lambda: handlers.on_report_received(first, deps=routing.deps),
        lambda: handlers.on_report_joined(
            joined(first.case_id, flags=Flags(life_threat=True)), deps=routing.deps
        ),
    ]
    for step in events:
        step()
    crr = routing.referral(first.case_id, "R1", CRR)
    police = routing.referral(first.case_id, "R1", POLICE)
    answers = [
        AgencyDecline(
            occurred_at=NOW,
            case_id=first.case_id,
            correlation_id=first.correlation_id,
            referral_id=uuid.UUID(crr.referral_id),
            reason=DeclineReason.NOT_COMPETENT,
        ),
        AgencyAcknowledgement(
            occurred_at=NOW,
            case_id=first.case_id,
            correlation_id=first.correlation_id,
            referral_id=uuid.UUID(police.referral_id),
        ),
    ]
    escalated = ObligationEscalated(
        occurred_at=NOW,
        case_id=first.case_id,
        correlation_id=first.correlation_id,
        producer="deadlines",
        obligation_id=uuid.uuid4(),
        escalation_obligation_id=uuid.uuid4(),
        code="R8",
        legal_basis="Rules 38874, p.12.2",
        level=1,
        supervisor_agency_type="child_rights_national",
        region="KZ-75",
        due_at=NOW + timedelta(days=1),
    )
    handlers.on_agency_decline(answers[0], subject_agency_id=CRR, deps=routing.deps)
    handlers.on_agency_acknowledgement(answers[1], subject_agency_id=POLICE, deps=routing.deps)
    handlers.on_obligation_escalated(escalated, deps=routing.deps)
    joined_again = joined(first.case_id, flags=Flags(life_threat=True))
    handlers.on_report_joined(joined_again, deps=routing.deps)
    before = routing.snapshot()

    # Every event again, as JetStream redelivers it: the inbox skips each.
    handlers.on_report_received(first, deps=routing.deps)
    handlers.on_report_joined(joined_again, deps=routing.deps)
    handlers.on_agency_decline(answers[0], subject_agency_id=CRR, deps=routing.deps)
    handlers.on_agency_acknowledgement(answers[1], subject_agency_id=POLICE, deps=routing.deps)
    handlers.on_obligation_escalated(escalated, deps=routing.deps)
    assert routing.snapshot() == before

    # The same facts re-sent as new events (a producer that re-published): no duplicate
    # referral or obligation, because their ids and the case's duties are derived.
    handlers.on_report_received(
        first.model_copy(update={"event_id": uuid.uuid4()}), deps=routing.deps
    )
    handlers.on_report_joined(
        joined_again.model_copy(update={"event_id": uuid.uuid4()}), deps=routing.deps
    )
    handlers.on_obligation_escalated(
        escalated.model_copy(update={"event_id": uuid.uuid4()}), deps=routing.deps
    )
    after = routing.snapshot()
    assert after["referrals"] == before["referrals"]
    assert after["obligations"] == before["obligations"]
    assert after["outbox"] == before["outbox"]


SECOND_CRR = "kz-75-child-rights-zhetysu"


def test_a_decline_is_rerouted_to_another_body_of_its_kind(routing: Routing) -> None:
    handlers.register_agency(
        AgencyIn(
            agency_id=SECOND_CRR,
            agency_type="child_rights_regional",
            region="KZ-75",
            district="Medeu",
            name_kk="x",
            name_ru="x",
            name_en="x",
        ),
        deps=routing.deps,
    )
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    crr = routing.referral(event.case_id, "R1", CRR)
    routing.clock.advance(timedelta(minutes=20))

    outcome = handlers.decline_referral(
        crr.referral_id, CRR, DeclineReason.WRONG_DISTRICT, deps=routing.deps
    )

    assert outcome.declined.status == "rerouted"
    assert outcome.declined.decline_reason == "wrong_district"
    new = outcome.replacement
    assert (new.code, new.to_agency_id, new.role, new.purpose, new.status) == (
        "R1",
        SECOND_CRR,
        "child_rights_regional",
        "transfer",
        "issued",
    )
    assert (new.replaces_referral_id, new.chain_id) == (crr.referral_id, crr.referral_id)
    on_agency = routing.outbox(subject=f"qorgau.agency.{SECOND_CRR}.referral_issued.v1")
    delivered = next(m for m in on_agency if m["referral_id"] == new.referral_id)
    assert delivered["acting_for"] is None
    assert delivered["replaces_referral_id"] == crr.referral_id
    rerouted = routing.outbox(subject="qorgau.routing.referral_rerouted.v1")
    assert [(m["declined_referral_id"], m["new_referral_id"]) for m in rerouted] == [
        (crr.referral_id, new.referral_id)
    ]
    declined = routing.outbox(subject="qorgau.routing.referral_declined.v1")
    assert [(m["referral_id"], m["reason"]) for m in declined] == [
        (crr.referral_id, "wrong_district")
    ]

    # What the regional body owed on receipt goes with the decline to the other body,
    # whose terms start when the platform delivered the case to it.
    obligations = routing.obligations(event.case_id)
    cancelled = {
        o.code for o in obligations if o.actor_agency_id == CRR and o.status == "cancelled"
    }
    assert cancelled == {"R8", "R9", "R13", "R18", "R19", "R20"}
    taken = {o.code: o for o in obligations if o.actor_agency_id == SECOND_CRR}
    assert set(taken) == {"R8", "R9", "R13", "R18", "R19", "R20"}
    assert all(o.started_at == routing.clock.now() and o.status == "open" for o in taken.values())
    assert {
        m["obligation_id"] for m in routing.outbox(prefix="qorgau.routing.obligation_cancelled")
    } == {o.obligation_id for o in obligations if o.status == "cancelled"}
    # Transfers the regional body's receipt made (R7, R12, R13) are not made a second time.
    carried = [
        row["code"]
        for r in routing.referrals(event.case_id)
        for row in json.loads(r.rows)
        if row["code"] in {"R7", "R12"}
    ]
    assert sorted(carried) == ["R12", "R7"]


def test_a_declined_child_rights_referral_is_escalated_not_handed_to_guardianship(
    routing: Routing,
) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    crr = routing.referral(event.case_id, "R1", CRR)

    outcome = handlers.decline_referral(
        crr.referral_id, CRR, DeclineReason.NOT_COMPETENT, deps=routing.deps
    )

    assert outcome.declined.status == "escalated"
    new = outcome.replacement
    assert (new.to_agency_id, new.purpose, new.role) == (
        "kz-child-rights-national",
        "escalation",
        "child_rights_national",
    )
    told = routing.outbox(subject=f"qorgau.agency.{GUARDIANSHIP}.referral_issued.v1")
    assert [m["code"] for m in told] == ["G4"]


def test_a_decline_with_nobody_left_is_escalated(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    police = routing.referral(event.case_id, "R1", POLICE)

    outcome = handlers.decline_referral(
        police.referral_id, POLICE, DeclineReason.NOT_COMPETENT, deps=routing.deps
    )

    assert outcome.declined.status == "escalated"
    new = outcome.replacement
    assert (new.to_agency_id, new.purpose, new.role) == (PROSECUTOR, "escalation", "prosecutor")
    escalated = routing.outbox(subject="qorgau.routing.referral_escalated.v1")
    assert [(m["cause"], m["unresolved_agency_type"], m["to_agency_id"]) for m in escalated] == [
        ("declined", "police", PROSECUTOR)
    ]
    assert routing.outbox(subject=f"qorgau.agency.{PROSECUTOR}.referral_issued.v1")
    r16 = next(o for o in routing.obligations(event.case_id) if o.code == "R16")
    assert r16.status == "cancelled"

    # The last resort cannot pass it on: the decline is refused and nothing changes.
    before = routing.snapshot()
    with pytest.raises(domain.NoAgencyLeft):
        handlers.decline_referral(
            new.referral_id, PROSECUTOR, DeclineReason.NOT_COMPETENT, deps=routing.deps
        )
    assert routing.snapshot() == before
    handlers.acknowledge_referral(new.referral_id, PROSECUTOR, deps=routing.deps)
    assert routing.referral(event.case_id, "R1", PROSECUTOR).status == "acknowledged"


def test_a_missing_agency_is_escalated_when_the_case_arrives(routing: Routing) -> None:
    handlers.change_agency(POLICE, AgencyChange(active=False), deps=routing.deps)
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    r1 = [o for o in routing.obligations(event.case_id) if o.code == "R1"]
    gap = next(o for o in r1 if o.target_agency_type == "police")
    assert (gap.target_agency_id, gap.status) == (None, "open")
    escalation = routing.referral(event.case_id, "R1", PROSECUTOR)
    assert (escalation.purpose, escalation.obligation_id) == ("escalation", gap.obligation_id)
    escalated = routing.outbox(subject="qorgau.routing.referral_escalated.v1")
    assert [(m["cause"], m["unresolved_agency_type"]) for m in escalated] == [
        ("no_agency", "police")
    ]


def test_answers_are_checked(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    police = routing.referral(event.case_id, "R1", POLICE)
    with pytest.raises(domain.NotAddressee):
        handlers.acknowledge_referral(police.referral_id, CRR, deps=routing.deps)
    with pytest.raises(handlers.UnknownReferral):
        handlers.acknowledge_referral(str(uuid.uuid4()), POLICE, deps=routing.deps)
    routing.clock.advance(timedelta(minutes=3))
    done = handlers.acknowledge_referral(police.referral_id, POLICE, deps=routing.deps)
    assert (done.status, done.answered_at, done.answered_via) == (
        "acknowledged",
        routing.clock.now(),
        "http",
    )
    with pytest.raises(domain.IllegalTransition):
        handlers.acknowledge_referral(police.referral_id, POLICE, deps=routing.deps)
    with pytest.raises(domain.IllegalTransition):
        handlers.decline_referral(
            police.referral_id, POLICE, DeclineReason.OTHER, deps=routing.deps
        )
    acknowledged = routing.outbox(subject="qorgau.routing.referral_acknowledged.v1")
    assert [(m["referral_id"], m["agency_id"]) for m in acknowledged] == [
        (police.referral_id, POLICE)
    ]


def test_an_unacknowledged_referral_raises_one_event_after_the_timeout(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    referrals = routing.referrals(event.case_id)
    handlers.acknowledge_referral(
        routing.referral(event.case_id, "R1", POLICE).referral_id, POLICE, deps=routing.deps
    )
    routing.clock.advance(timedelta(minutes=59))
    assert handlers.check_unacknowledged(deps=routing.deps) == 0
    routing.clock.advance(timedelta(minutes=2))
    assert handlers.check_unacknowledged(deps=routing.deps) == len(referrals) - 1
    assert handlers.check_unacknowledged(deps=routing.deps) == 0
    routing.clock.advance(timedelta(days=3))
    assert handlers.check_unacknowledged(deps=routing.deps) == 0

    raised = routing.outbox(subject="qorgau.routing.referral_unacknowledged.v1")
    assert len(raised) == len(referrals) - 1
    assert routing.referral(event.case_id, "R1", POLICE).referral_id not in {
        m["referral_id"] for m in raised
    }
    reminder = routing.outbox(subject=f"qorgau.agency.{CRR}.referral_unacknowledged.v1")
    assert [m["code"] for m in reminder] == ["R1"]
    others = [r for r in routing.referrals(event.case_id) if r.to_agency_id != POLICE]
    assert all(r.unacknowledged_at is not None for r in others)


def test_the_acknowledgement_time_is_the_deployments(
    migrated_engine: Callable[[str], Engine],
) -> None:
    routing = make_routing(migrated_engine("routing"))
    routing.deps.ack_timeout = timedelta(hours=4)
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    routing.clock.advance(timedelta(hours=3, minutes=59))
    assert handlers.check_unacknowledged(deps=routing.deps) == 0
    routing.clock.advance(timedelta(minutes=2))
    assert handlers.check_unacknowledged(deps=routing.deps) == len(routing.referrals(event.case_id))


def test_a_joined_report_with_life_threat_adds_r10_only(routing: Routing) -> None:
    first = report()
    handlers.on_report_received(first, deps=routing.deps)
    before_obligations = {o.obligation_id for o in routing.obligations(first.case_id)}
    before_referrals = {r.referral_id for r in routing.referrals(first.case_id)}
    routing.clock.advance(timedelta(hours=2))

    handlers.on_report_joined(
        joined(first.case_id, flags=Flags(life_threat=True)), deps=routing.deps
    )

    new = [
        o for o in routing.obligations(first.case_id) if o.obligation_id not in before_obligations
    ]
    assert [(o.code, o.actor_agency_id, o.term, o.started_at) for o in new] == [
        ("R10", CRR, "immediate", routing.clock.now())
    ]
    # The regional body is told of the new duty; nobody is told the case a second time.
    told = [r for r in routing.referrals(first.case_id) if r.referral_id not in before_referrals]
    assert [(r.code, r.to_agency_id, r.purpose) for r in told] == [("R10", CRR, "action")]
    assert new[0].via_referral_id == told[0].referral_id

    # The same facts again add nothing.
    handlers.on_report_joined(
        joined(first.case_id, flags=Flags(life_threat=True)), deps=routing.deps
    )
    assert len(routing.obligations(first.case_id)) == len(before_obligations) + 1


def test_a_joined_report_waits_for_its_case_to_be_routed(routing: Routing) -> None:
    first = report()
    later = joined(first.case_id, flags=Flags(child_removed=True))
    with pytest.raises(handlers.CaseNotYetRouted):
        handlers.on_report_joined(later, deps=routing.deps)
    with unit_of_work(routing.engine) as session:
        assert session.exec(select(InboxEntry)).all() == []
    handlers.on_report_received(first, deps=routing.deps)
    handlers.on_report_joined(later, deps=routing.deps)
    # The removal of the child brings G8: the education authority is told of its duty.
    assert routing.referral(first.case_id, "G8", "kz-75-education-authority").purpose == "action"


def test_agencies_answer_over_the_bus(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    ombudsman = routing.referral(event.case_id, "R1", "kz-75-ombudsman-regional")

    def answer(
        kind: type[AgencyAcknowledgement] | type[AgencyDecline], referral_id: str, **kw: Any
    ) -> Any:
        return kind(
            occurred_at=NOW,
            correlation_id=uuid.uuid4(),
            referral_id=uuid.UUID(referral_id),
            **kw,
        )

    # Another agency cannot answer for the addressee: recorded, and told back to it.
    handlers.on_agency_acknowledgement(
        answer(AgencyAcknowledgement, ombudsman.referral_id),
        subject_agency_id=POLICE,
        deps=routing.deps,
    )
    assert routing.referral(event.case_id, "R1", "kz-75-ombudsman-regional").status == "issued"
    rejected = routing.outbox(subject=f"qorgau.agency.{POLICE}.referral_answer_rejected.v1")
    assert [(m["referral_id"], m["problem"]) for m in rejected] == [
        (ombudsman.referral_id, "not_addressee")
    ]
    handlers.on_agency_acknowledgement(
        answer(AgencyAcknowledgement, str(uuid.uuid4())),
        subject_agency_id=POLICE,
        deps=routing.deps,
    )
    assert [
        m["problem"] for m in routing.outbox(subject="qorgau.routing.referral_answer_rejected.v1")
    ] == [
        "not_addressee",
        "unknown_referral",
    ]

    handlers.on_agency_decline(
        answer(AgencyDecline, ombudsman.referral_id, reason="no_capacity"),
        subject_agency_id="kz-75-ombudsman-regional",
        deps=routing.deps,
    )
    declined = routing.referral(event.case_id, "R1", "kz-75-ombudsman-regional")
    assert (declined.status, declined.answered_via) == ("escalated", "nats")
    escalation = routing.referral(event.case_id, "R1", "kz-ombudsman-national")
    assert (escalation.purpose, escalation.role) == ("escalation", "ombudsman_national")


def test_a_deadlines_escalation_is_delivered_to_the_supervisor(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    r8 = next(o for o in routing.obligations(event.case_id) if o.code == "R8")
    escalated = ObligationEscalated(
        occurred_at=NOW,
        case_id=event.case_id,
        correlation_id=event.correlation_id,
        producer="deadlines",
        obligation_id=uuid.UUID(r8.obligation_id),
        escalation_obligation_id=uuid.uuid4(),
        code="R8",
        legal_basis="Rules 38874, p.12.2",
        level=1,
        supervisor_agency_type="child_rights_national",
        region="KZ-75",
        due_at=NOW + timedelta(days=1),
    )
    handlers.on_obligation_escalated(escalated, deps=routing.deps)
    delivered = routing.outbox(subject="qorgau.agency.kz-child-rights-national.referral_issued.v1")
    escalation = next(m for m in delivered if m["purpose"] == "escalation")
    assert (
        escalation["code"],
        escalation["escalation_obligation_id"],
        escalation["obligation_id"],
    ) == (
        "R8",
        str(escalated.escalation_obligation_id),
        r8.obligation_id,
    )
    # The supervisor takes it up: the escalation obligation is met, by that agency.
    routing.clock.advance(timedelta(hours=2))
    handlers.acknowledge_referral(
        escalation["referral_id"], "kz-child-rights-national", deps=routing.deps
    )
    met = [
        m
        for m in routing.outbox(subject="qorgau.routing.obligation_fulfilled.v1")
        if m["obligation_id"] == str(escalated.escalation_obligation_id)
    ]
    assert [(m["met_by_agency_id"], m["met_by_platform"], m["met_at"]) for m in met] == [
        ("kz-child-rights-national", False, routing.clock.now().isoformat().replace("+00:00", "Z"))
    ]
    # A supervisor type the region lacks falls to its national body, then the last resort.
    handlers.on_obligation_escalated(
        escalated.model_copy(
            update={
                "event_id": uuid.uuid4(),
                "escalation_obligation_id": uuid.uuid4(),
                "supervisor_agency_type": "education_authority",
            }
        ),
        deps=routing.deps,
    )
    assert routing.outbox(subject="qorgau.agency.kz-75-education-authority.referral_issued.v1")


def test_directory_changes_are_events_and_change_routing(routing: Routing) -> None:
    added = handlers.register_agency(
        AgencyIn(
            agency_id="kz-75-police-medeu",
            agency_type="police",
            region="KZ-75",
            district="Medeu",
            name_kk="Медеу ауданының полиция басқармасы",
            name_ru="Управление полиции Медеуского района",
            name_en="Police department, Medeu district",
        ),
        deps=routing.deps,
    )
    assert added.active
    registered = routing.outbox(subject="qorgau.routing.agency_registered.v1")
    assert [(m["directory_agency_id"], m["agency_type"], m["region"]) for m in registered] == [
        ("kz-75-police-medeu", "police", "KZ-75")
    ]
    with pytest.raises(domain.DirectoryError):
        handlers.register_agency(
            AgencyIn(
                agency_id="kz-child-rights-2",
                agency_type="child_rights_national",
                name_kk="x",
                name_ru="x",
                name_en="x",
            ),
            deps=routing.deps,
        )
    with pytest.raises(domain.DirectoryInvalid) as invalid:
        handlers.register_agency(
            AgencyIn(
                agency_id="kz-75-ombudsman-2",
                agency_type="ombudsman_national",
                region="KZ-75",
                name_kk="x",
                name_ru="x",
                name_en="x",
            ),
            deps=routing.deps,
        )
    assert invalid.value.field == "region"

    handlers.change_agency(CRR, AgencyChange(active=False), deps=routing.deps)
    handlers.change_agency(CRR, AgencyChange(active=False), deps=routing.deps)
    changed = routing.outbox(subject="qorgau.routing.agency_changed.v1")
    assert [(m["directory_agency_id"], m["active"], m["changed"]) for m in changed] == [
        (CRR, False, ["active"])
    ]
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    r1 = routing.referral(event.case_id, "R1", GUARDIANSHIP)
    assert r1.role == "child_rights_regional"
    with pytest.raises(handlers.UnknownAgency):
        handlers.change_agency("nobody", AgencyChange(active=False), deps=routing.deps)


def test_a_transfer_that_needs_judgement_is_made_by_the_agency(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    family = next(
        o
        for o in routing.obligations(event.case_id)
        if o.code == "R13" and o.target_agency_type == "family_support_centre"
    )
    assert (family.status, family.actor_agency_id, family.kind) == ("open", CRR, "action")
    with pytest.raises(domain.NotAddressee):
        handlers.refer(family.obligation_id, POLICE, deps=routing.deps)
    routing.clock.advance(timedelta(days=1))

    referral = handlers.refer(family.obligation_id, CRR, deps=routing.deps)

    assert (referral.code, referral.to_agency_id, referral.from_agency_id) == (
        "R13",
        "kz-75-family-support-centre",
        CRR,
    )
    met = next(
        o for o in routing.obligations(event.case_id) if o.obligation_id == family.obligation_id
    )
    assert (met.status, met.met_by_agency_id, met.met_by_platform, met.met_at) == (
        "met",
        CRR,
        False,
        routing.clock.now(),
    )
    fulfilled = routing.outbox(subject="qorgau.routing.obligation_fulfilled.v1")
    assert any(
        f["obligation_id"] == family.obligation_id and f["met_by_agency_id"] == CRR
        for f in fulfilled
    )
    with pytest.raises(domain.IllegalTransition):
        handlers.refer(family.obligation_id, CRR, deps=routing.deps)


def test_each_routing_decision_is_a_span_with_codes_and_ids_only(
    migrated_engine: Callable[[str], Engine], tmp_path: Path
) -> None:
    provider = setup_tracing("routing", var_dir=tmp_path, otlp_endpoint=None)
    routing = make_routing(migrated_engine("routing"), provider)
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    police = routing.referral(event.case_id, "R1", POLICE)
    handlers.decline_referral(police.referral_id, POLICE, DeclineReason.OTHER, deps=routing.deps)
    provider.force_flush()

    spans = list(read_spans(tmp_path))
    r1 = [s for s in spans if s["name"] == "routing.decide R1"]
    delivered = {
        s["attributes"]["qorgau.agency_id"]
        for s in r1
        if s["attributes"]["qorgau.decision"] == "transfer"
    }
    assert delivered == {POLICE, CRR, "kz-75-ombudsman-regional"}
    for span in r1:
        attributes = span["attributes"]
        assert attributes["qorgau.case_id"] == str(event.case_id)
        assert attributes["qorgau.obligation_code"] == "R1"
        assert attributes["qorgau.legal_basis"] == "Rules 38874, p.8"
    escalation = next(s for s in r1 if s["attributes"]["qorgau.decision"] == "escalate")
    assert escalation["attributes"]["qorgau.agency_id"] == PROSECUTOR
    assert escalation["attributes"]["qorgau.declined_by_agency_id"] == POLICE
    r8 = next(s for s in spans if s["name"] == "routing.decide R8")
    assert r8["attributes"]["qorgau.actor_agency_id"] == CRR
    # Codes, ids and types only: no attribute could hold a name, an address or a narrative.
    allowed = {
        "qorgau.case_id",
        "qorgau.obligation_code",
        "qorgau.agency_type",
        "qorgau.agency_id",
        "qorgau.decision",
        "qorgau.actor_agency_type",
        "qorgau.actor_agency_id",
        "qorgau.target_agency_type",
        "qorgau.target_agency_id",
        "qorgau.legal_basis",
        "qorgau.obligation_id",
        "qorgau.referral_id",
        "qorgau.unresolved_agency_type",
        "qorgau.declined_by_agency_id",
    }
    decisions = [s for s in spans if s["name"].startswith("routing.decide ")]
    assert len(decisions) >= len(routing.obligations(event.case_id))
    for span in decisions:
        assert set(span["attributes"]) <= allowed
