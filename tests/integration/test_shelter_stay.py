"""Shelter's handlers on a migrated database (SQLite, PostgreSQL): a stay from arrival to
departure under Standard 14701, what each step opens and meets, and every illegal step."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from sqlalchemy import Engine
from sqlmodel import select

from services.shelter import domain, handlers, repository, views
from services.shelter.config import AGENCIES
from services.shelter.handlers import Actor, ArrivalIn, SheetIn, ShelterDeps
from services.shelter.tables import IntakeReport, ShelterStay
from shared.clock import ALMATY, FixedClock
from shared.contracts.routing import ReferralIssued
from shared.crypto import FieldCipher, KeyRing
from shared.db import unit_of_work
from shared.outbox import OutboxRow

# Friday 2026-11-20 16:40 in Almaty: the worked example of docs/obligations.md.
ARRIVED = datetime(2026, 11, 20, 16, 40, tzinfo=ALMATY)
SHELTER = Actor("specialist-1", "kz-75-shelter", "shelter", "KZ-75", False)
HEAD = Actor("head-1", "kz-75-shelter", "shelter", "KZ-75", True)
SOCIAL = Actor("sp-officer-1", "kz-75-social-protection", "social_protection", "KZ-75", False)
OTHER_SOCIAL = Actor("sp-9", "kz-11-social-protection", "social_protection", "KZ-11", False)
PERSON = {"full_name": "Айгерим Серікқызы", "birth_date": "1990-03-04", "sex": "female"}
CHILD = {"full_name": "Әлия Серікқызы", "birth_date": "2017-03-01"}


@dataclass
class Shelter:
    engine: Engine
    clock: FixedClock
    deps: ShelterDeps

    def at(self, moment: datetime) -> None:
        self.clock.set(moment)

    def outbox(self, prefix: str = "qorgau.shelter.obligation_") -> list[dict[str, Any]]:
        with unit_of_work(self.engine) as session:
            rows = session.exec(select(OutboxRow).order_by(OutboxRow.id)).all()  # type: ignore[arg-type]
            return [
                {"subject": r.subject, **json.loads(r.payload)}
                for r in rows
                if r.subject.startswith(prefix)
            ]

    def rows(self, stay_id: str) -> dict[str, str]:
        with unit_of_work(self.engine) as session:
            found = repository.obligations_of_stay(session, stay_id=stay_id)
            return {row.code: row.status for row in found}

    def row(self, stay_id: str, code: str) -> Any:
        with unit_of_work(self.engine) as session:
            found = repository.obligation_of_stay(session, stay_id=stay_id, code=code)
            assert found is not None, code
            session.expunge_all()
            return found

    def stay(self, stay_id: str) -> ShelterStay:
        with unit_of_work(self.engine) as session:
            found = repository.get_stay(session, stay_id=stay_id)
            assert found is not None
            session.expunge_all()
            return found

    def reports(self) -> list[IntakeReport]:
        with unit_of_work(self.engine) as session:
            found = list(session.exec(select(IntakeReport)).all())
            session.expunge_all()
            return found


@pytest.fixture
def shelter(migrated_engine: Callable[[str], Engine]) -> Iterator[Shelter]:
    engine = migrated_engine("shelter")
    clock = FixedClock(ARRIVED + timedelta(minutes=5))
    deps = ShelterDeps(
        engine=engine,
        clock=clock,
        tracer=TracerProvider().get_tracer("test"),
        cipher=FieldCipher(KeyRing.generate()),
        agencies=handlers.load_directory(AGENCIES),
    )
    yield Shelter(engine, clock, deps)


def apply(shelter: Shelter, **changes: Any) -> str:
    data = ArrivalIn(
        arrival=domain.Arrival.APPLICATION,
        arrived_at=ARRIVED,
        person=PERSON,
        consent=True,
        **changes,
    )
    return handlers.open_stay(data, SHELTER, deps=shelter.deps).stay_id


def sheet(
    conclusion: domain.Conclusion = domain.Conclusion.RECOGNISED,
    *,
    at: datetime,
    criteria: dict[str, bool] | None = None,
    signatures: tuple[str, ...] = domain.SHEET_SIGNATORIES,
) -> SheetIn:
    return SheetIn(
        interviewed_at=at,
        criteria={"1.1": True, "2.1": True} if criteria is None else criteria,
        conclusion=conclusion,
        participants={"police": "pol-7", "social_worker": "sw-2", "psychologist": "psy-3"},
        signatures=[
            domain.Signature(role, f"p-{role}", "officer", at.date()) for role in signatures
        ],
        signatory_names={role: f"Name of {role}" for role in signatures},
    )


def screened(shelter: Shelter, stay_id: str, at: datetime) -> None:
    handlers.screen(stay_id, [], at, SHELTER, deps=shelter.deps)
    handlers.general_services(
        stay_id, list(domain.GENERAL_SERVICES), at, SHELTER, deps=shelter.deps
    )


def to_decision(shelter: Shelter) -> str:
    """Arrive, screen, identify (recognised), send the sheet, decide and send: S9 open."""
    stay_id = apply(shelter)
    screened(shelter, stay_id, ARRIVED + timedelta(minutes=5))
    monday = datetime(2026, 11, 23, 11, 15, tzinfo=ALMATY)
    shelter.at(monday + timedelta(hours=1))
    handlers.identify(stay_id, sheet(at=monday), SHELTER, deps=shelter.deps)
    handlers.send_sheet(stay_id, monday + timedelta(minutes=30), SHELTER, deps=shelter.deps)
    shelter.at(monday + timedelta(days=1))
    decided = monday + timedelta(days=1, hours=-1)
    handlers.decide(stay_id, domain.Decision.GRANTED, decided, "17", SOCIAL, deps=shelter.deps)
    handlers.send_decision(stay_id, decided, SOCIAL, deps=shelter.deps)
    return stay_id


def test_application_opens_s2_s3_s4_with_the_worked_example_ids(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    stay = shelter.stay(stay_id)
    opened = {event["code"]: event for event in shelter.outbox("qorgau.shelter.obligation_opened")}
    assert set(opened) == {"S2", "S3", "S4"}
    s4 = opened["S4"]
    assert s4["legal_basis"] == "Standard 14701, p.28-29"
    assert s4["term"] == "working_days:1"
    assert s4["actor_agency_id"] == "kz-75-shelter" and s4["region"] == "KZ-75"
    assert datetime.fromisoformat(s4["started_at"]) == ARRIVED
    assert s4["case_id"] == stay.case_id == s4["correlation_id"]
    assert s4["obligation_id"] == domain.obligation_id(
        str(stay.case_id), "S4", "kz-75-shelter", stay_id, 1
    )
    assert opened["S2"]["term"] == opened["S3"]["term"] == "immediate"
    # The person's data stays in the shelter's database, encrypted; no event carries it.
    assert "Айгерим" not in stay.personal
    everything = json.dumps(shelter.outbox(""), ensure_ascii=False)
    assert "Айгерим" not in everything and "1990-03-04" not in everything


def test_application_without_consent_is_refused_and_changes_nothing(shelter: Shelter) -> None:
    with pytest.raises(domain.InvalidInput) as refused:
        handlers.open_stay(
            ArrivalIn(domain.Arrival.APPLICATION, ARRIVED, PERSON, consent=False),
            SHELTER,
            deps=shelter.deps,
        )
    assert refused.value.field == "consent"
    assert shelter.outbox("") == []


def test_each_child_stay_takes_the_case_intake_opened_for_it(shelter: Shelter) -> None:
    other = {"full_name": "Нұрлан Серікұлы", "birth_date": "2019-05-02"}
    stay_id = apply(shelter, children=[CHILD, other])
    with unit_of_work(shelter.engine) as session:
        kids = {
            json.loads(shelter.deps.cipher.decrypt(k.personal, field="stay.personal") or "{}")[
                "full_name"
            ]: k.stay_id
            for k in repository.children_of(session, stay_id=stay_id)
        }
    cases = [str(uuid.uuid4()), str(uuid.uuid4())]

    def intake(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        # Intake answers the children's cases in the order the report names them.
        names = [child["full_name"] for child in body["children"]]
        assert names == [CHILD["full_name"], other["full_name"]]
        return 201, {
            "case_id": str(uuid.uuid4()),
            "report_id": str(uuid.uuid4()),
            "child_case_ids": cases,
        }

    handlers.send_pending(shelter.deps, post=intake, token_for=lambda s: s.shelter_agency_id)
    assert shelter.stay(kids[CHILD["full_name"]]).case_id == cases[0]
    assert shelter.stay(kids[other["full_name"]]).case_id == cases[1]
    assert shelter.stay(stay_id).case_id != cases[0]


def test_only_a_shelter_records_an_arrival(shelter: Shelter) -> None:
    data = ArrivalIn(domain.Arrival.APPLICATION, ARRIVED, PERSON, consent=True)
    with pytest.raises(domain.NotActor):
        handlers.open_stay(data, SOCIAL, deps=shelter.deps)


def test_children_are_recipients_of_their_own_and_reported_to_intake(shelter: Shelter) -> None:
    stay_id = apply(shelter, children=[CHILD])
    with unit_of_work(shelter.engine) as session:
        kids = repository.children_of(session, stay_id=stay_id)
        session.expunge_all()
    assert len(kids) == 1 and kids[0].minor and kids[0].parent_stay_id == stay_id
    opened = shelter.outbox("qorgau.shelter.stay_opened")
    assert [event["minor"] for event in opened] == [False, True]
    assert opened[1]["legal_basis"] == "Standard 14701, p.26-27"
    [report] = shelter.reports()
    assert report.reason == "children" and report.sent_at is None

    sent: list[tuple[dict[str, Any], str]] = []
    intake_case = str(uuid.uuid4())

    def intake(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        sent.append((body, token))
        return 201, {"case_id": intake_case, "report_id": str(uuid.uuid4())}

    assert (
        handlers.send_pending(shelter.deps, post=intake, token_for=lambda s: s.shelter_agency_id)
        == 1
    )
    [(body, _)] = sent
    assert body["reporter"] == {
        "agency_type": "shelter",
        "agency_id": "kz-75-shelter",
        "region": "KZ-75",
    }
    assert body["subject"]["kind"] == "adult" and body["concerns"] == ["domestic_violence"]
    assert body["children"] == [CHILD] and body["accompanying_minors"] == 1
    assert shelter.stay(stay_id).intake_case_id == intake_case
    # Taken once: nothing is sent twice.
    assert (
        handlers.send_pending(shelter.deps, post=intake, token_for=lambda s: s.shelter_agency_id)
        == 0
    )
    assert len(sent) == 1


def test_intake_away_keeps_the_report_for_the_next_round(shelter: Shelter) -> None:
    apply(shelter, children=[CHILD])

    def away(body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
        raise ConnectionError("refused")

    assert (
        handlers.send_pending(shelter.deps, post=away, token_for=lambda s: s.shelter_agency_id) == 0
    )
    [report] = shelter.reports()
    assert report.sent_at is None and report.last_error == "intake unreachable: ConnectionError"


def test_screening_refuses_on_a_contraindication_and_readmits_after_treatment(
    shelter: Shelter,
) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=3)
    handlers.screen(stay_id, ["infectious_disease"], at, SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "referred_to_healthcare"
    assert shelter.rows(stay_id) == {"S2": "met", "S3": "cancelled", "S4": "cancelled"}
    with pytest.raises(domain.IllegalStep):
        handlers.identify(stay_id, sheet(at=at), SHELTER, deps=shelter.deps)
    back = ARRIVED + timedelta(days=3)
    shelter.at(back + timedelta(minutes=1))
    handlers.readmit(stay_id, back, SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).admission == 2
    s4 = shelter.row(stay_id, "S4")
    assert s4.status == "open" and s4.started_at == back
    with pytest.raises(domain.InvalidInput) as unknown:
        handlers.screen(stay_id, ["flu"], back, SHELTER, deps=shelter.deps)
    assert unknown.value.field == "contraindications"


def test_general_services_meet_s3_when_all_four_are_given(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=2)
    with pytest.raises(domain.IllegalStep):
        handlers.general_services(stay_id, ["accommodation_meals"], at, SHELTER, deps=shelter.deps)
    handlers.screen(stay_id, [], at, SHELTER, deps=shelter.deps)
    handlers.general_services(
        stay_id, ["accommodation_meals", "first_medical_check"], at, SHELTER, deps=shelter.deps
    )
    assert shelter.rows(stay_id)["S3"] == "open"
    handlers.general_services(
        stay_id, ["self_care_hygiene", "bed_clothes_necessities"], at, SHELTER, deps=shelter.deps
    )
    assert shelter.rows(stay_id)["S3"] == "met"


def test_the_sheet_needs_the_three_signatures_and_a_criterion(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=4)
    handlers.screen(stay_id, [], at, SHELTER, deps=shelter.deps)
    with pytest.raises(domain.InvalidInput) as unsigned:
        handlers.identify(
            stay_id,
            sheet(at=at, signatures=("shelter_specialist", "police")),
            SHELTER,
            deps=shelter.deps,
        )
    assert unsigned.value.field == "signatures.social_protection"
    with pytest.raises(domain.InvalidInput) as empty:
        handlers.identify(
            stay_id, sheet(at=at, criteria={"1.1": False}), SHELTER, deps=shelter.deps
        )
    assert empty.value.field == "criteria"
    with pytest.raises(domain.InvalidInput) as unknown:
        handlers.identify(stay_id, sheet(at=at, criteria={"5.1": True}), SHELTER, deps=shelter.deps)
    assert unknown.value.field == "criteria.5.1"
    assert shelter.rows(stay_id)["S4"] == "open"


def test_not_recognised_refuses_services(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=4)
    handlers.screen(stay_id, [], at, SHELTER, deps=shelter.deps)
    handlers.identify(
        stay_id,
        sheet(domain.Conclusion.NOT_RECOGNISED, at=at, criteria={}),
        SHELTER,
        deps=shelter.deps,
    )
    assert shelter.stay(stay_id).status == "not_recognised"
    rows = shelter.rows(stay_id)
    assert rows["S4"] == "met" and rows["S6"] == "met" and rows["S3"] == "cancelled"
    assert "S5" not in rows
    with pytest.raises(domain.IllegalStep):
        handlers.send_sheet(stay_id, at, SHELTER, deps=shelter.deps)


def test_recognised_to_contract_with_social_protections_own_steps(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    screened(shelter, stay_id, ARRIVED + timedelta(minutes=5))
    monday = datetime(2026, 11, 23, 11, 15, tzinfo=ALMATY)
    shelter.at(monday + timedelta(hours=1))
    handlers.identify(stay_id, sheet(at=monday), SHELTER, deps=shelter.deps)
    assert shelter.row(stay_id, "S4").met_at == monday
    assert shelter.row(stay_id, "S5").status == "open"
    # Social protection cannot decide before the sheet reaches it.
    with pytest.raises(handlers.UnknownStay):
        handlers.decide(stay_id, domain.Decision.GRANTED, monday, None, SOCIAL, deps=shelter.deps)
    handlers.send_sheet(stay_id, monday + timedelta(minutes=30), SHELTER, deps=shelter.deps)
    s7 = shelter.row(stay_id, "S7")
    assert (s7.actor_agency_type, s7.actor_agency_id) == (
        "social_protection",
        "kz-75-social-protection",
    )
    assert s7.term == "working_days:3"
    decided = monday + timedelta(minutes=50)
    # Only the body the sheet went to decides; the shelter cannot decide for it.
    with pytest.raises(domain.NotActor):
        handlers.decide(stay_id, domain.Decision.GRANTED, decided, None, SHELTER, deps=shelter.deps)
    with pytest.raises(handlers.UnknownStay):
        handlers.decide(
            stay_id, domain.Decision.GRANTED, decided, None, OTHER_SOCIAL, deps=shelter.deps
        )
    # No contract before the decision.
    with pytest.raises(domain.IllegalStep):
        handlers.sign_contract(stay_id, decided, None, SHELTER, deps=shelter.deps)
    handlers.decide(stay_id, domain.Decision.GRANTED, decided, "17", SOCIAL, deps=shelter.deps)
    assert shelter.row(stay_id, "S8").actor_agency_id == "kz-75-social-protection"
    handlers.send_decision(stay_id, decided, SOCIAL, deps=shelter.deps)
    assert shelter.row(stay_id, "S9").status == "open"
    handlers.sign_contract(
        stay_id, decided + timedelta(minutes=5), "C-1", SHELTER, deps=shelter.deps
    )
    rows = shelter.rows(stay_id)
    assert {
        code: rows[code] for code in ("S2", "S3", "S4", "S5", "S7", "S8", "S9")
    } == dict.fromkeys(("S2", "S3", "S4", "S5", "S7", "S8", "S9"), "met")
    assert rows["S10"] == "open" and rows["S13"] == "open"
    assert shelter.row(stay_id, "S10").term == "months:6"
    assert shelter.row(stay_id, "S13").term == "calendar_days:3"
    # The decision went over the shelter's API, recorded as social protection's own act.
    fulfilled = {e["code"]: e for e in shelter.outbox("qorgau.shelter.obligation_fulfilled")}
    assert fulfilled["S7"]["met_by_agency_id"] == "kz-75-social-protection"


def test_social_protection_refusal_ends_the_stay(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    screened(shelter, stay_id, ARRIVED + timedelta(minutes=5))
    at = ARRIVED + timedelta(minutes=6)
    shelter.at(at)
    handlers.identify(stay_id, sheet(at=at), SHELTER, deps=shelter.deps)
    handlers.send_sheet(stay_id, at, SHELTER, deps=shelter.deps)
    handlers.decide(stay_id, domain.Decision.REFUSED, at, None, SOCIAL, deps=shelter.deps)
    handlers.send_decision(stay_id, at, SOCIAL, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "refused_by_authority"
    assert "S9" not in shelter.rows(stay_id)


def test_no_contract_before_the_general_services(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=5)
    handlers.screen(stay_id, [], at, SHELTER, deps=shelter.deps)
    handlers.identify(stay_id, sheet(at=at), SHELTER, deps=shelter.deps)
    handlers.send_sheet(stay_id, at, SHELTER, deps=shelter.deps)
    handlers.decide(stay_id, domain.Decision.GRANTED, at, None, SOCIAL, deps=shelter.deps)
    handlers.send_decision(stay_id, at, SOCIAL, deps=shelter.deps)
    with pytest.raises(domain.IllegalStep, match=r"p\.15"):
        handlers.sign_contract(stay_id, at, None, SHELTER, deps=shelter.deps)


def test_expulsion_needs_the_head_and_a_ground_borne_out(shelter: Shelter) -> None:
    stay_id = to_decision(shelter)
    signed = datetime(2026, 11, 24, 10, 30, tzinfo=ALMATY)
    handlers.sign_contract(stay_id, signed, "C-1", SHELTER, deps=shelter.deps)
    later = signed + timedelta(days=10)
    shelter.at(later)
    absence = domain.Ground.ABSENCE
    with pytest.raises(domain.NotActor):
        handlers.end_stay(stay_id, absence, later, [], SHELTER, absent_hours=80, deps=shelter.deps)
    with pytest.raises(domain.InvalidInput) as short:
        handlers.end_stay(stay_id, absence, later, [], HEAD, absent_hours=50, deps=shelter.deps)
    assert short.value.field == "absent_hours"
    with pytest.raises(domain.InvalidInput) as few:
        handlers.end_stay(
            stay_id,
            domain.Ground.RULES_VIOLATIONS,
            later,
            [],
            HEAD,
            violations=3,
            deps=shelter.deps,
        )
    assert few.value.field == "violations"
    handlers.end_stay(
        stay_id,
        absence,
        later,
        ["clothes", "documents"],
        HEAD,
        absent_hours=80,
        deps=shelter.deps,
    )
    rows = shelter.rows(stay_id)
    assert rows["S10"] == "met" and rows["S13"] == "cancelled"
    assert shelter.stay(stay_id).status == "ended"


def test_a_contraindication_during_the_stay_stops_services(shelter: Shelter) -> None:
    stay_id = to_decision(shelter)
    found = datetime(2026, 11, 24, 9, 0, tzinfo=ALMATY)
    handlers.stop_services(stay_id, ["intoxication"], found, SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "stopped"
    assert shelter.rows(stay_id)["S9"] == "cancelled"
    with pytest.raises(domain.IllegalStep):
        handlers.sign_contract(stay_id, found, None, SHELTER, deps=shelter.deps)


def test_refusing_the_police_is_reported_to_intake_once(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    at = ARRIVED + timedelta(minutes=5)
    handlers.police_refusal(stay_id, at, SHELTER, deps=shelter.deps)
    with pytest.raises(domain.IllegalStep):
        handlers.police_refusal(stay_id, at, SHELTER, deps=shelter.deps)
    [report] = shelter.reports()
    assert report.reason == "refuses_police"
    body = json.loads(
        shelter.deps.cipher.decrypt(report.payload, field="intake_report.payload") or ""
    )
    assert body["refuses_police"] is True and "children" not in body


def referral(to: str = "kz-75-shelter", sender: str = "police") -> ReferralIssued:
    case_id = uuid.uuid4()
    return ReferralIssued(
        occurred_at=ARRIVED,
        case_id=case_id,
        correlation_id=case_id,
        producer="routing",
        referral_id=uuid.uuid4(),
        code="S1",
        legal_basis="Standard 14701, p.25-27",
        from_agency_type=sender,
        from_agency_id=f"kz-75-{sender}",
        to_agency_type="shelter",
        to_agency_id=to,
        region="KZ-75",
        issued_at=ARRIVED - timedelta(hours=1),
    )


def test_a_police_referral_becomes_a_stay_on_the_referrals_case(shelter: Shelter) -> None:
    delivered = referral()
    assert handlers.on_referral_issued(delivered, deps=shelter.deps)
    # Delivered twice (a redelivery): kept once.
    assert not handlers.on_referral_issued(delivered, deps=shelter.deps)
    assert [
        r["referral_id"] for r in views.referrals_waiting("kz-75-shelter", deps=shelter.deps)
    ] == [str(delivered.referral_id)]
    data = ArrivalIn(
        domain.Arrival.REFERRAL, ARRIVED, PERSON, referral_id=str(delivered.referral_id)
    )
    stay = handlers.open_stay(data, SHELTER, deps=shelter.deps)
    assert stay.case_id == str(delivered.case_id) and stay.referred_by_type == "police"
    assert views.referrals_waiting("kz-75-shelter", deps=shelter.deps) == []
    with pytest.raises(domain.IllegalStep):
        handlers.open_stay(data, SHELTER, deps=shelter.deps)
    # Another shelter does not see, nor use, this shelter's referral.
    other = Actor("x", "kz-11-shelter", "shelter", "KZ-11", False)
    with pytest.raises(handlers.UnknownReferral):
        handlers.open_stay(data, other, deps=shelter.deps)


def test_a_referral_from_a_sender_p25_does_not_name_is_not_kept(shelter: Shelter) -> None:
    assert not handlers.on_referral_issued(referral(sender="education_org"), deps=shelter.deps)


def test_a_time_in_the_future_is_refused(shelter: Shelter) -> None:
    stay_id = apply(shelter)
    with pytest.raises(domain.InvalidInput) as future:
        handlers.screen(stay_id, [], ARRIVED + timedelta(days=1), SHELTER, deps=shelter.deps)
    assert future.value.field == "screened_at"
