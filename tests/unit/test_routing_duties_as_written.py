"""Every duty exactly as the seed texts set it: who is told, by whom, and from when.

The catalogue-against-digest table is in test_routing_catalogue.py; these are the readings
that table cannot show: an agency never told of its own kind's report, the stand-in only where
the region has no such body, duties that need a person's choice, one delivery per agency.
"""

from __future__ import annotations

from services.routing import domain
from tests.unit.test_routing_catalogue import (
    CRR,
    OMB,
    POLICE,
    RULES,
    SEED,
    without,
)
from tests.unit.test_routing_catalogue import (
    route as route,
)

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
    assert delivery.rows == ("R1", "R15")
    to_omb = [d for d in decision.duties if d.target and d.target.agency_id == OMB[1]]
    assert sorted(d.code for d in to_omb) == ["R1", "R15"]
    assert all(d.met_by_platform for d in to_omb)
    assert len({d.obligation_id for d in to_omb}) == 2


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
