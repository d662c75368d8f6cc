"""Every duty exactly as the seed texts set it: who is told, by whom, and from when.

The catalogue-against-digest table is in test_routing_catalogue.py; these are the readings
that table cannot show: an agency never told of its own kind's report, the stand-in only where
the region has no such body, duties that need a person's choice, one delivery per agency.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from services.routing import catalogue, domain
from tests.unit.test_routing_catalogue import (
    C111,
    CRR,
    EDU_AUTH,
    NOW,
    OMB,
    POLICE,
    RECEIVED,
    RULES,
    SEED,
    route,
    without,
)

RULES_BY_CODE = {row.code: row for row in RULES.rows}
GUARDIANSHIP = ("guardianship", "kz-75-guardianship")
COMMISSION = ("minors_commission", "kz-75-minors-commission")
LOCAL_EXECUTIVE = ("local_executive", "kz-75-local-executive")


def delivered(decision: domain.Decision) -> list[str]:
    return [d.delivery.agency.agency_id for d in decision.duties if d.delivery]


def targets(decision: domain.Decision, code: str) -> set[str | None]:
    return {d.target.agency_id for d in decision.duties if d.code == code and d.target}


# -- an agency never notifies its own kind (Rules 38874 p.8; Guide p.4, p.5) ----------------


def test_a_district_police_station_outside_the_directory_tells_the_others_not_the_police() -> None:
    for district in (("police", "kz-75-district-police-3"), ("police", None)):
        decision = route(reporter=district)
        assert targets(decision, "R1") == {CRR[1], OMB[1]}, district
        assert POLICE[1] not in delivered(decision), district
        r16 = [d for d in decision.duties if d.code == "R16"]
        assert [(d.actor.agency_type, d.actor.agency_id) for d in r16] == [district]


def test_child_rights_guardianship_and_commission_are_not_told_of_their_own_kind() -> None:
    body = ("child_rights_regional", "kz-75-child-rights-district")
    decision = route(reporter=body)
    assert targets(decision, "R1") == {POLICE[1], OMB[1]}
    assert CRR[1] not in delivered(decision)

    guardian = ("guardianship", "kz-75-guardianship-district")
    decision = route(reporter=guardian)
    assert not [d for d in decision.duties if d.code == "G4"]
    assert GUARDIANSHIP[1] not in delivered(decision)

    commission = ("minors_commission", "kz-75-minors-commission-district")
    decision = route(reporter=commission)
    assert not [d for d in decision.duties if d.code == "R12"]
    assert COMMISSION[1] not in delivered(decision)


def test_g2_never_asks_a_local_executive_body_to_refer_to_itself() -> None:
    decision = route(reporter=("local_executive", "kz-75-akimat-district"))
    assert not [d for d in decision.duties if d.code == "G2"]
    assert LOCAL_EXECUTIVE[1] not in delivered(decision)


# -- the stand-in acts only where the region has no such body (Rules 38874 p.8, p.12) -------


def test_a_declined_child_rights_referral_goes_up_never_to_guardianship() -> None:
    step = domain.after_decline(
        role="child_rights_regional", region="KZ-75", declined={CRR[1]}, directory=SEED, rules=RULES
    )
    assert (step.outcome, step.agency.agency_id, step.role) == (
        domain.ReferralStatus.ESCALATED,
        "kz-child-rights-national",
        "child_rights_national",
    )


def test_guardianship_stands_in_only_where_the_region_has_no_active_body() -> None:
    with_body = route()
    assert GUARDIANSHIP[1] not in {
        d.actor.agency_id for d in with_body.duties if d.code in {"R7", "R8", "R19"}
    }
    step = domain.after_decline(
        role="child_rights_regional",
        region="KZ-75",
        declined={GUARDIANSHIP[1]},
        directory=without(CRR[1]),
        rules=RULES,
    )
    assert (step.outcome, step.agency.agency_id) == (
        domain.ReferralStatus.ESCALATED,
        "kz-child-rights-national",
    )


# -- one delivery per agency per case event --------------------------------------------------


def deliveries_to(decision: domain.Decision, agency_id: str) -> list[domain.Delivery]:
    return [
        d.delivery
        for d in decision.duties
        if d.delivery and d.delivery.agency.agency_id == agency_id
    ]


def test_r1_and_r15_reach_the_regional_commissioner_as_one_referral_naming_both() -> None:
    decision = route(reporter=("contact_centre_111", "kz-contact-centre-111"))
    (delivery,) = deliveries_to(decision, OMB[1])
    # R9 too: the commissioner joins the child-rights body's visit (p.12.3).
    assert delivery.rows == ("R1", "R15", "R9")
    to_omb = [d for d in decision.duties if d.target and d.target.agency_id == OMB[1]]
    assert sorted(d.code for d in to_omb) == ["R1", "R15", "R9"]
    assert all(d.met_by_platform for d in to_omb)
    assert len({d.obligation_id for d in to_omb}) == 3


def test_r6_and_r12_reach_the_commission_as_one_referral_naming_both() -> None:
    decision = route()
    (delivery,) = deliveries_to(decision, COMMISSION[1])
    assert delivery.rows == ("R6", "R12")
    assert sorted(d.code for d in decision.duties if d.code in {"R6", "R12"}) == ["R12", "R6"]


def test_r1_and_g4_reach_a_guardianship_body_standing_in_as_one_referral() -> None:
    decision = route(directory=without(CRR[1]))
    (delivery,) = deliveries_to(decision, GUARDIANSHIP[1])
    assert set(delivery.rows) == {"R1", "G4"}
    assert delivery.role == "child_rights_regional"
    # It still owes what the body it stands in for owes on receipt.
    assert {"R7", "R8", "R19"} <= {
        d.code for d in decision.duties if d.actor.agency_id == GUARDIANSHIP[1]
    }


# -- duties that need a person's choice are not transfers -----------------------------------

SHELTER = ("shelter", "kz-75-shelter")
FAMILY = ("family_support_centre", "kz-75-family-support-centre")
ADULT_DV = {"subject": "adult", "concerns": ["domestic_violence"]}


def test_s1_is_the_reporting_agencys_referral_to_make_with_consent() -> None:
    decision = route(**ADULT_DV, reporter=POLICE)  # type: ignore[arg-type]
    (s1,) = [d for d in decision.duties if d.code == "S1"]
    assert (s1.kind, s1.met_by_platform, s1.delivery) == (domain.Kind.ACTION, False, None)
    assert (s1.actor.agency_id, s1.target and s1.target.agency_type) == (POLICE[1], "shelter")
    assert SHELTER[1] not in delivered(decision)
    assert RULES_BY_CODE["S1"].needs_consent


def test_f8_is_the_centres_referral_to_make_within_two_working_days() -> None:
    own = route(**ADULT_DV, reporter=FAMILY)  # type: ignore[arg-type]
    (f8,) = [d for d in own.duties if d.code == "F8"]
    assert (f8.kind, f8.met_by_platform, f8.term) == (domain.Kind.ACTION, False, "working_days:2")
    assert SHELTER[1] not in delivered(own)
    told = route(**ADULT_DV, reporter=("contact_centre_111", "kz-contact-centre-111"))  # type: ignore[arg-type]
    (f8,) = [d for d in told.duties if d.code == "F8"]
    assert f8.actor.agency_id == FAMILY[1] and not f8.met_by_platform
    assert f8.delivery and (f8.delivery.agency.agency_id, f8.delivery.purpose) == (
        FAMILY[1],
        "action",
    )
    assert RULES_BY_CODE["F8"].needs_consent


def test_s12_opens_only_when_the_person_refuses_to_go_to_the_police() -> None:
    plain = route(**ADULT_DV, reporter=SHELTER)  # type: ignore[arg-type]
    assert not [d for d in plain.duties if d.code == "S12"]
    refusing = route(**ADULT_DV, reporter=SHELTER, flags=["refuses_police"])  # type: ignore[arg-type]
    (s12,) = [d for d in refusing.duties if d.code == "S12"]
    assert (s12.target and s12.target.agency_id, s12.term) == (POLICE[1], "working_days:3")


def test_a_referral_that_needs_consent_is_refused_without_it() -> None:
    args = {
        "code": "S1",
        "status": "open",
        "actor_agency_id": POLICE[1],
        "target_agency_type": "shelter",
        "agency_id": POLICE[1],
        "needs_consent": True,
    }
    try:
        domain.check_referable(**args, consent=False)  # type: ignore[arg-type]
    except domain.ConsentMissing as refused:
        assert refused.field == "consent"
    else:
        raise AssertionError("a referral without consent was allowed")
    assert domain.check_referable(**args, consent=True) == "shelter"  # type: ignore[arg-type]


# -- the Guide as it reads --------------------------------------------------------------------


def test_g3_any_information_on_violence_goes_to_the_police_with_or_without_offence_signs() -> None:
    early = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)  # before Rules 38874: the Guide alone
    decision = route(received=early, now=early)
    (g3,) = [d for d in decision.duties if d.code == "G3"]
    assert (g3.target and g3.target.agency_id, g3.met_by_platform) == (POLICE[1], True)
    # After Rules 38874, R1 and G3 reach the police in one referral naming both.
    (delivery,) = [
        d.delivery
        for d in route().duties
        if d.delivery and d.delivery.agency.agency_id == POLICE[1]
    ]
    assert delivery.rows == ("R1", "G3")


def test_g6_is_owed_by_the_education_authority_too() -> None:
    decision = route(reporter=EDU_AUTH)
    (g6,) = [d for d in decision.duties if d.code == "G6"]
    assert (g6.actor.agency_id, g6.target and g6.target.agency_type) == (
        EDU_AUTH[1],
        "child_rights_national",
    )


def test_g7_and_g8_run_from_the_removal_of_the_child() -> None:
    removed = RECEIVED - timedelta(hours=30)
    decision = domain.decide(
        case=domain.CaseFacts(
            "case-1",
            "KZ-75",
            "minor",
            frozenset({"violence"}),
            frozenset({"child_removed"}),
            child_removed_at=removed,
        ),
        reporter=domain.Reporter(domain.Party(*POLICE), RECEIVED, "report-1"),
        rules=RULES,
        directory=SEED,
        now=NOW,
    )
    started = {d.code: d.started_at for d in decision.duties if d.code in {"G7", "G8"}}
    assert started == {"G7": removed, "G8": removed}


# -- joined reports keep their facts ----------------------------------------------------------


def test_a_duty_held_on_the_case_is_not_opened_again_because_another_agency_reported() -> None:
    first = route(concerns=["bullying"])
    assert [d.actor.agency_id for d in first.duties if d.code == "R2"] == ["school-17"]
    later = domain.decide(
        case=domain.CaseFacts("case-1", "KZ-75", "minor", frozenset({"bullying"}), frozenset()),
        reporter=domain.Reporter(domain.Party(*POLICE), NOW, "report-2"),
        rules=RULES,
        directory=SEED,
        now=NOW,
        applied={d.key for d in first.duties},
    )
    assert not [d for d in later.duties if d.code == "R2"]


# -- who joins whom -------------------------------------------------------------------------


def test_r9s_visit_tells_the_mobile_group_the_commissioner_and_the_psychological_centre() -> None:
    decision = route()
    told = {
        d.target.agency_type: d
        for d in decision.duties
        if d.code == "R9" and d.kind is domain.Kind.TRANSFER and d.target
    }
    assert set(told) == {"mobile_group", "ombudsman_regional", "psych_support_centre"}
    assert {d.legal_basis for d in told.values()} == {"Rules 38874, p.12.3"}
    assert all(d.met_by_platform and d.actor.agency_id == CRR[1] for d in told.values())
    (to_omb,) = [
        d.delivery for d in decision.duties if d.delivery and d.delivery.agency.agency_id == OMB[1]
    ]
    assert "R9" in to_omb.rows
    # The visit itself stays the body's own duty.
    assert [d.kind for d in decision.duties if d.code == "R9" and not d.target] == [
        domain.Kind.ACTION
    ]


def test_healthcare_and_social_protection_tell_the_commission_at_once() -> None:
    for reporter in (
        ("healthcare", "kz-75-healthcare"),
        ("social_protection", "kz-75-social-protection"),
    ):
        decision = route(reporter=reporter)
        to_commission = [
            d for d in decision.duties if d.target and d.target.agency_id == COMMISSION[1]
        ]
        reported = [d for d in to_commission if d.actor.agency_id == reporter[1]]
        assert [(d.legal_basis, d.term) for d in reported] == [
            ("Guide, p.13.3, p.14.1", "immediate")
        ], reporter
    school = route()
    assert not [d for d in school.duties if d.legal_basis == "Guide, p.13.3, p.14.1"]


# -- F10 and the acts in force -----------------------------------------------------------------


def test_no_report_opens_f10_its_trigger_is_the_centre_admitting_a_person_with_children() -> None:
    decision = route(
        subject="adult",
        concerns=["domestic_violence"],
        flags=["accompanying_minors"],
        reporter=FAMILY,
    )
    assert not [d for d in decision.duties if d.code == "F10"]
    (f10,) = [row for row in RULES.rows if row.code == "F10"]
    assert (f10.trigger, f10.received_by) == ("admitted", "family_support_centre")


ACTS = json.loads(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))["acts"]


def test_every_act_says_where_its_dates_come_from_and_whether_they_are_provisional() -> None:
    assert {name: act["provisional"] for name, act in ACTS.items()} == {
        # In force ten days after first publication, a date the seeds do not give.
        "Rules 38874": True,
        # Undated in the seed.
        "Guide": True,
        # In force ten days after first publication, a date the seed does not give.
        "Standard 14701": True,
        "Family Centre Rules 34499": True,
    }
    assert ACTS["Rules 38874"]["registered"] == "2026-06-02"
    assert ACTS["Standard 14701"]["registered"] == "2017-01-20"
    assert ACTS["Standard 14701"]["repealed_from"] == "2023-07-01"
    assert ACTS["Family Centre Rules 34499"]["registered"] == "2024-06-14"
    for row in RULES.rows:
        act = ACTS[row.legal_basis.split(",")[0]]
        assert row.effective_from >= date.fromisoformat(act["effective_from"]), row.code


def test_rows_of_a_repealed_act_say_so_in_their_legal_basis() -> None:
    for row in RULES.rows:
        if row.legal_basis.startswith("Standard 14701"):
            assert "repealed 2023-07-01 (order No. 263)" in row.legal_basis, row.code
            assert len(row.legal_basis) <= 120, row.code


def test_a_successor_version_loads_from_data_alone() -> None:
    data = json.loads(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))
    s12 = next(r for r in data["rows"] if r["code"] == "S12")
    s12["effective_to"] = "2027-01-01"
    successor = {**s12, "version": 2, "effective_from": "2027-01-01", "effective_to": None}
    successor["legal_basis"] = "Standard 32941, p.40"
    data["acts"]["Standard 32941"] = {"effective_from": "2027-01-01", "provisional": False}
    rules = catalogue.parse({**data, "rows": [*data["rows"], successor]})
    facts = {"subject": "adult", "concerns": ["domestic_violence"], "flags": ["refuses_police"]}
    for day, basis in (
        (datetime(2026, 12, 1, 5, tzinfo=UTC), "Standard 14701"),
        (datetime(2027, 2, 1, 5, tzinfo=UTC), "Standard 32941, p.40"),
    ):
        decision = route(**facts, reporter=SHELTER, received=day, now=day, rules=rules)  # type: ignore[arg-type]
        (s12_duty,) = [d for d in decision.duties if d.code == "S12"]
        assert s12_duty.legal_basis.startswith(basis)


@pytest.mark.parametrize(
    "day",
    [date(2015, 1, 1), date(2020, 5, 4), date(2026, 6, 12), date(2026, 6, 13), date(2026, 11, 20)],
)
def test_every_report_gets_its_notices_under_the_acts_in_force_on_its_date(day: date) -> None:
    moment = datetime(day.year, day.month, day.day, 5, tzinfo=UTC)
    for reporter in (("education_org", "school-17"), ("healthcare", "kz-75-healthcare"), C111):
        decision = route(reporter=reporter, received=moment, now=moment)
        told = {d.target.agency_type for d in decision.duties if d.target and d.met_by_platform}
        # The Guide (G3, G4) from its first day; Rules 38874 (R1) adds its own from 13 June.
        assert {"police", "guardianship"} <= told, (day, reporter)
