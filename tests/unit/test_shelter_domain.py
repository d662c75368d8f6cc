"""Standard 14701 as the shelter's domain reads it: rows, the sheet, the contract's term,
expulsion grounds and Appendix 3, without a database."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from services.shelter import domain
from services.shelter.domain import Conclusion, Signature, StayStatus
from shared.calendar import Term, WorkingCalendar
from shared.clock import ALMATY

DAY = date(2026, 11, 23)


def signatures(*roles: str, on: date = DAY) -> list[Signature]:
    return [Signature(role, f"p-{role}", "officer", on) for role in roles]


PARTICIPANTS = {"police": "pol-1", "social_worker": "sw-1", "psychologist": "psy-1"}


def test_every_row_cites_the_standard_and_a_term_the_calendar_reads() -> None:
    assert set(domain.ROWS) == {
        "S2",
        "S3",
        "S4",
        "S5",
        "S6",
        "S7",
        "S8",
        "S9",
        "S10",
        "S11",
        "S13",
        "S14",
        "S15",
    }
    for row in domain.ROWS.values():
        assert row.legal_basis.startswith("Standard 14701, p.")
        if row.term != "none":
            Term.parse(row.term)
    assert {code for code, row in domain.ROWS.items() if row.actor_type != "shelter"} == {
        "S7",
        "S8",
    }


def test_the_sheet_needs_the_interview_and_the_three_signatures() -> None:
    everyone = signatures(*domain.SHEET_SIGNATORIES)
    domain.check_sheet(
        {"1.1": True}, Conclusion.RECOGNISED, PARTICIPANTS, everyone, interviewed_on=DAY
    )
    with pytest.raises(domain.InvalidInput) as missing:
        domain.check_sheet(
            {"1.1": True}, Conclusion.RECOGNISED, {"police": "x"}, everyone, interviewed_on=DAY
        )
    assert missing.value.field == "participants.social_worker"
    with pytest.raises(domain.InvalidInput) as early:
        domain.check_sheet(
            {"1.1": True},
            Conclusion.RECOGNISED,
            PARTICIPANTS,
            signatures(*domain.SHEET_SIGNATORIES, on=date(2026, 11, 20)),
            interviewed_on=DAY,
        )
    assert early.value.field == "signatures.shelter_specialist.signed_on"
    # Not recognised needs no criterion; recognised needs one.
    domain.check_sheet({}, Conclusion.NOT_RECOGNISED, PARTICIPANTS, everyone, interviewed_on=DAY)
    with pytest.raises(domain.InvalidInput):
        domain.check_sheet({}, Conclusion.RECOGNISED, PARTICIPANTS, everyone, interviewed_on=DAY)
    assert domain.met_by_identification(Conclusion.RECOGNISED) == (StayStatus.RECOGNISED, ("S5",))
    assert domain.met_by_identification(Conclusion.NOT_RECOGNISED) == (
        StayStatus.NOT_RECOGNISED,
        ("S6",),
    )


def test_the_contract_runs_six_months_and_extends_by_three_at_most() -> None:
    assert domain.contract_end(date(2026, 8, 31), extension_months=0) == date(2027, 2, 28)
    assert domain.contract_end(date(2026, 11, 24), extension_months=3) == date(2027, 8, 24)
    with pytest.raises(domain.IllegalStep):
        domain.check_extension(months=1, already=0, in_inpatient_care=False)
    with pytest.raises(domain.InvalidInput):
        domain.check_extension(months=2, already=2, in_inpatient_care=True)
    domain.check_extension(months=1, already=2, in_inpatient_care=True)


def test_expulsion_grounds_are_borne_out_by_the_facts() -> None:
    with pytest.raises(domain.InvalidInput):
        domain.check_ground(domain.Ground.ABSENCE, violations=None, absent_hours=72)
    domain.check_ground(domain.Ground.ABSENCE, violations=None, absent_hours=72.5)
    with pytest.raises(domain.InvalidInput):
        domain.check_ground(domain.Ground.RULES_VIOLATIONS, violations=3, absent_hours=None)
    domain.check_ground(domain.Ground.RULES_VIOLATIONS, violations=4, absent_hours=None)
    domain.check_ground(domain.Ground.REQUEST, violations=None, absent_hours=None)
    assert set(domain.GROUND_BASIS) == set(domain.Ground) == set(domain.PLAN_END_GROUND)


def test_steps_in_the_wrong_state_and_times_out_of_order_are_refused() -> None:
    with pytest.raises(domain.IllegalStep):
        domain.require(StayStatus.ARRIVED, {StayStatus.SCREENED}, "identification")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=ALMATY)
    with pytest.raises(domain.InvalidInput):
        domain.check_moment(now, field="at", after=now.replace(hour=13), now=now.replace(hour=14))
    with pytest.raises(domain.InvalidInput):
        domain.check_moment(now.replace(hour=15), field="at", after=now, now=now)
    with pytest.raises(domain.InvalidInput):
        domain.check_contraindications(["flu"])
    assert domain.check_contraindications(["intoxication", "intoxication"]) == ("intoxication",)


def test_obligation_ids_are_derived() -> None:
    first = domain.obligation_id("c", "S4", "kz-75-shelter", "s", 1)
    assert first == domain.obligation_id("c", "S4", "kz-75-shelter", "s", 1)
    assert first != domain.obligation_id("c", "S4", "kz-75-shelter", "s", 2)
    assert first != domain.obligation_id("c", "S4", "kz-75-shelter", "s", 1, nth=2)


def test_the_worked_example_s4_is_due_at_midnight_after_monday() -> None:
    # docs/obligations.md: applied Friday 2026-11-20 16:40; one working day counts Monday.
    arrived = datetime(2026, 11, 20, 16, 40, tzinfo=ALMATY)
    due = WorkingCalendar().due_at(Term.parse(domain.ROWS["S4"].term), arrived)
    assert due == datetime(2026, 11, 24, 0, 0, tzinfo=ALMATY)
