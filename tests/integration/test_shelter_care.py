"""Work under the contract on a migrated database (SQLite, PostgreSQL): the card and its portal
entry (S11), the needs assessment (S13), the work plan (S14) and its monitoring (S15),
suspension and the extension of p.33, and the illegal steps among them."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from services.shelter import domain, handlers
from services.shelter.handlers import PlanIn
from shared.clock import ALMATY
from shared.plans import MonitoringEntry, PlanInvalid, PlanLine
from tests.integration.test_shelter_stay import (
    ARRIVED,
    CHILD,
    HEAD,
    SHELTER,
    Shelter,
    apply,
    shelter,  # noqa: F401  (the fixture)
    to_decision,
)

SIGNED = datetime(2026, 11, 24, 10, 30, tzinfo=ALMATY)


def contracted(shelter: Shelter) -> str:  # noqa: F811
    stay_id = to_decision(shelter)
    shelter.at(SIGNED + timedelta(minutes=5))
    handlers.sign_contract(stay_id, SIGNED, "C-1", SHELTER, deps=shelter.deps)
    return stay_id


def draft(start: date = date(2026, 11, 27)) -> PlanIn:
    return PlanIn(
        period_start=start,
        period_end=start + timedelta(days=150),
        assessed_from=date(2026, 11, 24),
        assessed_to=date(2026, 11, 26),
        lines=[
            PlanLine(
                "l1",
                "social_psychological",
                "psychological counselling, weekly",
                start,
                start + timedelta(days=60),
                assigned_by="psy-3",
            ),
            PlanLine(
                "l2",
                "social_legal",
                "help with the application to the court",
                start,
                start + timedelta(days=30),
                assigned_by="lawyer-1",
            ),
        ],
    )


def test_the_card_opens_s11_and_the_portals_confirmation_meets_it(
    shelter: Shelter,  # noqa: F811
) -> None:
    stay_id = contracted(shelter)
    filled = SIGNED + timedelta(hours=2)
    shelter.at(filled + timedelta(minutes=1))
    with pytest.raises(domain.IllegalStep):
        handlers.confirm_portal(stay_id, filled, "P-1", SHELTER, deps=shelter.deps)
    card = {"full_name": "Айгерим Серікқызы", "police_informed": True}
    handlers.fill_card(stay_id, card, filled, SHELTER, deps=shelter.deps)
    s11 = shelter.row(stay_id, "S11")
    assert (s11.status, s11.term, s11.started_at) == ("open", "working_days:1", filled)
    with pytest.raises(domain.IllegalStep):
        handlers.fill_card(stay_id, card, filled, SHELTER, deps=shelter.deps)
    handlers.confirm_portal(stay_id, filled, "P-1", SHELTER, deps=shelter.deps)
    assert shelter.row(stay_id, "S11").status == "met"
    steps = shelter.outbox("qorgau.shelter.stay_step_recorded")
    assert [e["step"] for e in steps][-2:] == ["registration_card", "portal_entry"]
    assert "Айгерим" not in str(steps)


def test_no_plan_before_the_needs_assessment_then_s13_s14_s15(
    shelter: Shelter,  # noqa: F811
) -> None:
    stay_id = contracted(shelter)
    assessed = SIGNED + timedelta(days=2)
    shelter.at(assessed + timedelta(minutes=1))
    with pytest.raises(domain.IllegalStep, match="needs assessment"):
        handlers.save_plan(stay_id, draft(), SHELTER, deps=shelter.deps)
    with pytest.raises(domain.InvalidInput):
        handlers.assess_needs(stay_id, ["astrology"], assessed, SHELTER, deps=shelter.deps)
    handlers.assess_needs(
        stay_id, ["social_psychological", "social_legal"], assessed, SHELTER, deps=shelter.deps
    )
    assert shelter.row(stay_id, "S13").status == "met"
    s14 = shelter.row(stay_id, "S14")
    assert (s14.status, s14.term) == ("open", "working_days:3")
    handlers.save_plan(stay_id, draft(), SHELTER, deps=shelter.deps)
    approved = assessed + timedelta(hours=3)
    shelter.at(approved + timedelta(minutes=1))
    with pytest.raises(domain.NotActor):
        handlers.approve_plan(stay_id, approved, SHELTER, deps=shelter.deps)
    handlers.approve_plan(stay_id, approved, HEAD, deps=shelter.deps)
    met = {e["obligation_id"] for e in shelter.outbox("qorgau.shelter.obligation_fulfilled")}
    assert s14.obligation_id in met
    s15 = shelter.row(stay_id, "S15")
    assert (s15.status, s15.term) == ("open", "recurring:3")

    # A quarter's monitoring meets that occurrence; S15 stays open for the next quarter.
    observed = approved + timedelta(days=80)
    shelter.at(observed)
    entry = MonitoringEntry(observed.date(), "sw-2", "positive", corrections=("social_legal",))
    handlers.monitor(stay_id, entry, SHELTER, deps=shelter.deps)
    fulfilled = [
        e for e in shelter.outbox("qorgau.shelter.obligation_fulfilled") if e["code"] == "S15"
    ]
    assert [e["obligation_id"] for e in fulfilled] == [s15.obligation_id]
    assert shelter.row(stay_id, "S15").status == "open"
    # The correction opened the plan's next version: a line of another kind is refused.
    bad = draft()
    bad.lines.append(
        PlanLine("l3", "astrology", "x", bad.period_start, bad.period_start, assigned_by="a")
    )
    with pytest.raises(PlanInvalid):
        handlers.save_plan(stay_id, bad, SHELTER, deps=shelter.deps)


def test_extension_only_in_inpatient_care_and_three_months_in_all(
    shelter: Shelter,  # noqa: F811
) -> None:
    stay_id = contracted(shelter)
    later = SIGNED + timedelta(days=30)
    shelter.at(later)
    with pytest.raises(domain.IllegalStep, match="inpatient"):
        handlers.extend(stay_id, 2, later, SHELTER, deps=shelter.deps)
    handlers.suspend(stay_id, later, True, SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "suspended"
    with pytest.raises(domain.InvalidInput):
        handlers.extend(stay_id, 4, later, SHELTER, deps=shelter.deps)
    handlers.extend(stay_id, 2, later, SHELTER, deps=shelter.deps)
    s10 = shelter.row(stay_id, "S10")
    assert (s10.status, s10.term, s10.started_at) == ("open", "months:8", SIGNED)
    with pytest.raises(domain.InvalidInput):
        handlers.extend(stay_id, 2, later, SHELTER, deps=shelter.deps)
    handlers.extend(stay_id, 1, later, SHELTER, deps=shelter.deps)
    assert shelter.row(stay_id, "S10").term == "months:9"
    shelter.at(later + timedelta(days=1))
    handlers.resume(stay_id, later + timedelta(days=1), SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "contracted"


def test_a_step_past_the_contract_is_refused(shelter: Shelter) -> None:  # noqa: F811
    stay_id = contracted(shelter)
    expired = SIGNED + timedelta(days=200)
    shelter.at(expired)
    with pytest.raises(domain.IllegalStep, match="expired"):
        handlers.assess_needs(stay_id, ["social_legal"], expired, SHELTER, deps=shelter.deps)
    handlers.end_stay(
        stay_id, domain.Ground.EXPIRED, expired, ["documents"], HEAD, deps=shelter.deps
    )
    assert shelter.stay(stay_id).status == "ended"


def test_an_absence_of_80_hours_expels_and_a_good_reason_readmits_at_once(
    shelter: Shelter,  # noqa: F811
) -> None:
    stay_id = contracted(shelter)
    left = SIGNED + timedelta(days=5)
    expelled = left + timedelta(hours=80)
    shelter.at(expelled)
    handlers.end_stay(
        stay_id,
        domain.Ground.ABSENCE,
        expelled,
        ["clothes"],
        HEAD,
        absent_hours=80,
        deps=shelter.deps,
    )
    assert shelter.row(stay_id, "S10").status == "met"
    back = expelled + timedelta(hours=2)
    shelter.at(back)
    with pytest.raises(domain.InvalidInput) as no_reason:
        handlers.readmit_at_once(stay_id, "changed_mind", back, SHELTER, deps=shelter.deps)
    assert no_reason.value.field == "reason"
    handlers.readmit_at_once(stay_id, "police_detention", back, SHELTER, deps=shelter.deps)
    assert shelter.stay(stay_id).status == "contracted"
    s10 = shelter.row(stay_id, "S10")
    assert (s10.status, s10.term, s10.started_at) == ("open", "months:6", SIGNED)


def test_a_stay_ended_on_request_is_not_readmitted_at_once(shelter: Shelter) -> None:  # noqa: F811
    stay_id = contracted(shelter)
    ended = SIGNED + timedelta(days=3)
    shelter.at(ended)
    handlers.end_stay(stay_id, domain.Ground.REQUEST, ended, [], HEAD, deps=shelter.deps)
    with pytest.raises(domain.IllegalStep):
        handlers.readmit_at_once(stay_id, "police_detention", ended, SHELTER, deps=shelter.deps)


def test_capacity_counts_adults_and_children_and_staffing_against_appendix_3(
    shelter: Shelter,  # noqa: F811
) -> None:
    with pytest.raises(domain.NotActor):
        handlers.set_capacity(10, {}, SHELTER, deps=shelter.deps)
    with pytest.raises(domain.InvalidInput):
        handlers.set_capacity(10, {"astrologer": 1}, HEAD, deps=shelter.deps)
    staff = {position: sizes[0] for position, sizes in domain.STAFF_MINIMUM.items()}
    handlers.set_capacity(10, staff, HEAD, deps=shelter.deps)
    stay_id = apply(shelter, children=[CHILD, {"full_name": "Нұрлан", "birth_date": "2019-05-05"}])
    report = handlers.capacity_report("kz-75-shelter", deps=shelter.deps)
    assert (report["beds"], report["occupied"], report["children"], report["free"]) == (10, 3, 2, 7)
    # One educator per ten children: two children need one, and none is on the staff.
    assert report["staff_minimum"]["educator"] == 1
    assert report["shortfalls"] == {"educator": 1}
    published = shelter.outbox("qorgau.shelter.capacity_changed")
    assert [(e["occupied"], e["free"]) for e in published] == [(0, 10), (3, 7)]
    # Refused on screening: the person and the children leave the shelter's beds.
    at = ARRIVED + timedelta(minutes=3)
    handlers.screen(stay_id, ["intoxication"], at, SHELTER, deps=shelter.deps)
    assert handlers.capacity_report("kz-75-shelter", deps=shelter.deps)["occupied"] == 0
    assert shelter.outbox("qorgau.shelter.capacity_changed")[-1]["occupied"] == 0


def test_appendix_3_columns() -> None:
    small = domain.staffing_minimum(12, 0)
    large = domain.staffing_minimum(35, 21)
    assert (small["lawyer"], small["educator"]) == (1, 0)
    assert (large["lawyer"], large["social_work_specialist"], large["educator"]) == (2, 1.5, 3)


def test_the_next_plan_is_owed_within_a_working_day_of_the_last_ones_end(
    shelter: Shelter,  # noqa: F811
) -> None:
    stay_id = contracted(shelter)
    assessed = SIGNED + timedelta(days=2)
    shelter.at(assessed + timedelta(minutes=1))
    handlers.assess_needs(stay_id, ["social_psychological"], assessed, SHELTER, deps=shelter.deps)
    first = draft()
    handlers.save_plan(stay_id, first, SHELTER, deps=shelter.deps)
    approved = assessed + timedelta(hours=3)
    shelter.at(approved + timedelta(minutes=1))
    handlers.approve_plan(stay_id, approved, HEAD, deps=shelter.deps)
    # The plan ends (2027-04-26) before the contract (2027-05-24): p.17 owes the next plan
    # within one working day of its end, counted from the next day in Almaty.
    opened = [e for e in shelter.outbox("qorgau.shelter.obligation_opened") if e["code"] == "S14"]
    assert len(opened) == 2
    nxt = opened[-1]
    assert (nxt["term"], nxt["legal_basis"]) == ("working_days:1", "Standard 14701, p.17")
    assert nxt["started_at"].startswith("2027-04-27T00:00:00+05:00")
    # The next plan, for the period after the last one's end, approved by the head, meets it.
    later = datetime(2027, 4, 27, 9, 0, tzinfo=ALMATY)
    shelter.at(later)
    handlers.save_plan(stay_id, draft(date(2027, 4, 27)), SHELTER, deps=shelter.deps)
    shelter.at(later + timedelta(minutes=10))
    handlers.approve_plan(stay_id, later + timedelta(minutes=5), HEAD, deps=shelter.deps)
    fulfilled = [
        e for e in shelter.outbox("qorgau.shelter.obligation_fulfilled") if e["code"] == "S14"
    ]
    assert nxt["obligation_id"] in {e["obligation_id"] for e in fulfilled}
    # That plan runs past the contract's end (2027-05-24): no further plan is owed.
    assert (
        len([e for e in shelter.outbox("qorgau.shelter.obligation_opened") if e["code"] == "S14"])
        == 2
    )
