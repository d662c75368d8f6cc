"""Routing's handlers carry out each duty as the seed texts set it, on real databases.

One referral per agency per case event naming every row, duties that need a person's choice,
the removal of a child as a fact with its time, and joined reports that keep their facts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from services.routing import domain, handlers
from shared.contracts.intake import Flags
from shared.contracts.routing import DeclineReason
from tests.integration.test_routing_handlers import NOW, Routing, joined, make_routing, report

OMB = "kz-75-ombudsman-regional"
COMMISSION = "kz-75-minors-commission"
POLICE = "kz-75-police"
SHELTER = "kz-75-shelter"


@pytest.fixture
def routing(migrated_engine: Callable[[str], Engine]) -> Iterator[Routing]:
    yield make_routing(migrated_engine("routing"))


def test_one_referral_per_agency_names_every_row_and_each_row_is_met(routing: Routing) -> None:
    event = report(reporter=("contact_centre_111", "kz-contact-centre-111"))
    handlers.on_report_received(event, deps=routing.deps)

    to_omb = [r for r in routing.referrals(event.case_id) if r.to_agency_id == OMB]
    assert len(to_omb) == 1
    issued = routing.outbox(subject=f"qorgau.agency.{OMB}.referral_issued.v1")
    assert len(issued) == 1
    named = [(row["code"], row["legal_basis"]) for row in issued[0]["rows"]]
    assert named == [
        ("R1", "Rules 38874, p.8"),
        ("R15", "Rules 38874, p.14"),
        ("R9", "Rules 38874, p.12.3"),
    ]
    obligations = {
        o.obligation_id: o for o in routing.obligations(event.case_id) if o.target_agency_id == OMB
    }
    assert {row["obligation_id"] for row in issued[0]["rows"]} == set(obligations)
    assert {(o.code, o.status, o.met_by_platform) for o in obligations.values()} == {
        ("R1", "met", True),
        ("R9", "met", True),
        ("R15", "met", True),
    }


def test_the_school_and_the_child_rights_body_reach_the_commission_once(routing: Routing) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    issued = routing.outbox(subject=f"qorgau.agency.{COMMISSION}.referral_issued.v1")
    assert [[row["code"] for row in m["rows"]] for m in issued] == [["R6", "R12"]]


def test_s1_is_met_when_the_police_record_the_referral_with_consent(routing: Routing) -> None:
    event = report(
        reporter=("police", "kz-75-police"), subject_kind="adult", concerns=("domestic_violence",)
    )
    handlers.on_report_received(event, deps=routing.deps)
    (s1,) = [o for o in routing.obligations(event.case_id) if o.code == "S1"]
    assert (s1.status, s1.actor_agency_id, s1.target_agency_type) == ("open", POLICE, "shelter")
    assert not [r for r in routing.referrals(event.case_id) if r.to_agency_id == SHELTER]

    before = routing.snapshot()
    with pytest.raises(domain.ConsentMissing):
        handlers.refer(s1.obligation_id, POLICE, deps=routing.deps)
    assert routing.snapshot() == before

    referral = handlers.refer(s1.obligation_id, POLICE, deps=routing.deps, consent=True)
    assert (referral.code, referral.to_agency_id) == ("S1", SHELTER)
    (s1,) = [o for o in routing.obligations(event.case_id) if o.code == "S1"]
    assert (s1.status, s1.met_by_agency_id, s1.met_by_platform) == ("met", POLICE, False)


def test_g7_and_g8_run_from_the_removal_a_later_report_tells(routing: Routing) -> None:
    event = report(reporter=("police", "kz-75-police"))
    handlers.on_report_received(event, deps=routing.deps)
    assert not [o for o in routing.obligations(event.case_id) if o.code in {"G7", "G8"}]
    removed = NOW - timedelta(hours=20)
    routing.clock.advance(timedelta(hours=2))
    later = joined(
        event.case_id,
        reporter=("police", "kz-75-police"),
        flags=Flags(child_removed=True, child_removed_at=removed),
    )
    handlers.on_report_joined(later, deps=routing.deps)
    started = {
        o.code: o.started_at for o in routing.obligations(event.case_id) if o.code in {"G7", "G8"}
    }
    assert started == {"G7": removed, "G8": removed}
    opened = routing.outbox(subject="qorgau.routing.obligation_opened.v1")
    assert {
        datetime.fromisoformat(m["started_at"]) for m in opened if m["code"] in {"G7", "G8"}
    } == {removed}


def test_g9_opens_from_a_later_report_that_tells_the_age_band(routing: Routing) -> None:
    event = report(reporter=("police", "kz-75-police"), flags=Flags(child_removed=True))
    handlers.on_report_received(event, deps=routing.deps)
    assert not [o for o in routing.obligations(event.case_id) if o.code == "G9"]
    later = joined(event.case_id, reporter=("healthcare", "kz-75-healthcare")).model_copy(
        update={"subject_kind": "minor", "under_three": True}
    )
    handlers.on_report_joined(later, deps=routing.deps)
    (g9,) = [o for o in routing.obligations(event.case_id) if o.code == "G9"]
    assert (g9.actor_agency_id, g9.status) == ("kz-75-healthcare", "open")
    # G8 was held on the case already: the later report does not open it a second time.
    assert len([o for o in routing.obligations(event.case_id) if o.code == "G8"]) == 1


def test_a_declined_referral_that_carried_several_rows_moves_with_all_of_them(
    routing: Routing,
) -> None:
    event = report()
    handlers.on_report_received(event, deps=routing.deps)
    (to_commission,) = [r for r in routing.referrals(event.case_id) if r.to_agency_id == COMMISSION]
    outcome = handlers.decline_referral(
        to_commission.referral_id, COMMISSION, DeclineReason.NOT_COMPETENT, deps=routing.deps
    )
    moved = json.loads(outcome.replacement.rows)
    assert [row["code"] for row in moved] == ["R6", "R12"]
