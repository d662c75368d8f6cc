"""The obligation catalogue, row by row: the report that triggers each row and what it opens.

Every row of the digest that routing carries out has a case here: the facts of a report, and
the obligation it opens (code, actor, target, term, legal basis) and the delivery, if any.
Then the fallbacks the regulations name, versions in force, and coverage of the digest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.routing import catalogue, domain
from services.routing.config import SEED_DIRECTORY
from services.routing.domain import Agency, Kind
from shared.agencies import AgencyType, is_region
from shared.calendar import Term

RULES = catalogue.load()
NOW = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)  # a Friday, 10:00 in Almaty
RECEIVED = NOW - timedelta(minutes=5)
DIGEST = Path(__file__).resolve().parents[3] / "shared" / "domain" / "REGULATIONS.md"


def seed_directory() -> list[Agency]:
    data = json.loads(SEED_DIRECTORY.read_text(encoding="utf-8"))
    return [
        Agency(a["agency_id"], a["agency_type"], a["region"], a["active"]) for a in data["agencies"]
    ]


SEED = seed_directory()


def without(*agency_ids: str) -> list[Agency]:
    """The seed directory with some agencies deactivated."""
    return [replace(a, active=False) if a.agency_id in agency_ids else a for a in SEED]


def route(
    *,
    reporter: tuple[str, str | None] = ("education_org", "school-17"),
    subject: str = "minor",
    concerns: Iterable[str] = ("violence",),
    flags: Iterable[str] = (),
    region: str = "KZ-75",
    directory: list[Agency] = SEED,
    received: datetime = RECEIVED,
    now: datetime = NOW,
    rules: domain.Rules = RULES,
) -> domain.Decision:
    return domain.decide(
        case=domain.CaseFacts("case-1", region, subject, frozenset(concerns), frozenset(flags)),
        reporter=domain.Reporter(domain.Party(*reporter), received, "report-1"),
        rules=rules,
        directory=directory,
        now=now,
    )


@dataclass(frozen=True)
class Opens:
    """An obligation a report must open, and where the platform delivers the case for it."""

    code: str
    actor: tuple[str, str | None]
    target: tuple[str, str | None] | None
    term: str
    legal_basis: str
    kind: Kind
    delivered_to: str | None = None
    met_by_platform: bool = False


def transfer(
    code: str, actor: tuple[str, str | None], target: tuple[str, str], term: str, basis: str
) -> Opens:
    return Opens(code, actor, target, term, basis, Kind.TRANSFER, target[1], True)


def action(
    code: str,
    actor: tuple[str, str | None],
    term: str,
    basis: str,
    *,
    target: str | None = None,
    delivered_to: str | None = None,
) -> Opens:
    return Opens(
        code, actor, (target, None) if target else None, term, basis, Kind.ACTION, delivered_to
    )


SCHOOL = ("education_org", "school-17")
POLICE = ("police", "kz-75-police")
CRR = ("child_rights_regional", "kz-75-child-rights-regional")
OMB = ("ombudsman_regional", "kz-75-ombudsman-regional")
COMMISSION = ("minors_commission", "kz-75-minors-commission")
NATIONAL_CR = ("child_rights_national", "kz-child-rights-national")
EDU_AUTH = ("education_authority", "kz-75-education-authority")
HEALTH = ("healthcare", "kz-75-healthcare")
FAMILY = ("family_support_centre", "kz-75-family-support-centre")
SHELTER = ("shelter", "kz-75-shelter")
C111 = ("contact_centre_111", "kz-contact-centre-111")
# Standard 14701's rows say the act is repealed and applied until a successor is loaded.
REPEALED = "; repealed 2023-07-01 (order No. 263), applied until a successor is loaded"

# (id, report facts, what it must open)
ROWS: list[tuple[str, dict[str, Any], list[Opens]]] = [
    (
        "R1",
        {},
        [
            transfer("R1", SCHOOL, POLICE, "immediate", "Rules 38874, p.8"),
            transfer("R1", SCHOOL, CRR, "immediate", "Rules 38874, p.8"),
            transfer("R1", SCHOOL, OMB, "immediate", "Rules 38874, p.8"),
        ],
    ),
    (
        "R2-school",
        {"concerns": ["bullying"]},
        [action("R2", SCHOOL, "none", "Rules 38874, p.9, p.19")],
    ),
    (
        "R2-education-authority",
        {"concerns": ["bullying"], "reporter": POLICE},
        [action("R2", EDU_AUTH, "none", "Rules 38874, p.9, p.19", delivered_to=EDU_AUTH[1])],
    ),
    ("R3", {}, [action("R3", SCHOOL, "immediate", "Rules 38874, p.10")]),
    ("R4", {}, [action("R4", SCHOOL, "immediate", "Rules 38874, p.11.1")]),
    (
        "R5",
        {"flags": ["needs_medical_help"]},
        [action("R5", SCHOOL, "immediate", "Rules 38874, p.11.2", target="emergency_medical")],
    ),
    ("R6", {}, [transfer("R6", SCHOOL, COMMISSION, "working_days:3", "Rules 38874, p.11.3")]),
    (
        "R7",
        {"reporter": POLICE},
        [transfer("R7", CRR, NATIONAL_CR, "hours:1", "Rules 38874, p.12.1")],
    ),
    ("R8", {}, [action("R8", CRR, "working_days:1", "Rules 38874, p.12.2")]),
    (
        "R9",
        {},
        [
            action("R9", CRR, "immediate", "Rules 38874, p.12.3"),
            # Those who join the visit are told, each by a referral citing p.12.3.
            transfer(
                "R9",
                CRR,
                ("mobile_group", "kz-75-mobile-group"),
                "immediate",
                "Rules 38874, p.12.3",
            ),
            transfer("R9", CRR, OMB, "immediate", "Rules 38874, p.12.3"),
            transfer(
                "R9",
                CRR,
                ("psych_support_centre", "kz-75-psych-support-centre"),
                "immediate",
                "Rules 38874, p.12.3",
            ),
        ],
    ),
    (
        "R10",
        {"flags": ["life_threat"]},
        [action("R10", CRR, "immediate", "Rules 38874, p.12.4")],
    ),
    (
        "R11",
        {"flags": ["no_parental_care"]},
        [action("R11", CRR, "immediate", "Rules 38874, p.12.5", target="child_support_centre")],
    ),
    ("R12", {}, [transfer("R12", CRR, COMMISSION, "working_days:3", "Rules 38874, p.12.6")]),
    (
        "R13",
        {},
        [
            transfer(
                "R13",
                CRR,
                ("psych_support_centre", "kz-75-psych-support-centre"),
                "working_days:3",
                "Rules 38874, p.12.7",
            ),
            # The family support centre "according to the family's needs": a person decides.
            action(
                "R13", CRR, "working_days:3", "Rules 38874, p.12.7", target="family_support_centre"
            ),
        ],
    ),
    (
        "R14",
        {},
        [
            transfer(
                "R14",
                OMB,
                ("ombudsman_national", "kz-ombudsman-national"),
                "hours:1",
                "Rules 38874, p.13",
            )
        ],
    ),
    (
        "R15",
        {"reporter": C111},
        [
            transfer("R15", C111, NATIONAL_CR, "immediate", "Rules 38874, p.14"),
            transfer(
                "R15",
                C111,
                ("local_executive", "kz-75-local-executive"),
                "immediate",
                "Rules 38874, p.14",
            ),
            transfer(
                "R15",
                C111,
                ("ombudsman_national", "kz-ombudsman-national"),
                "immediate",
                "Rules 38874, p.14",
            ),
            transfer("R15", C111, OMB, "immediate", "Rules 38874, p.14"),
        ],
    ),
    ("R16", {}, [action("R16", POLICE, "none", "Rules 38874, p.15")]),
    ("R17", {"reporter": HEALTH}, [action("R17", HEALTH, "immediate", "Rules 38874, p.16")]),
    ("R18", {}, [action("R18", CRR, "immediate", "Rules 38874, p.20")]),
    ("R19", {}, [action("R19", CRR, "working_days:1", "Rules 38874, p.21")]),
    ("R20", {}, [action("R20", CRR, "none", "Rules 38874, p.22")]),
    ("R21", {}, [action("R21", COMMISSION, "working_days:10", "Rules 38874, p.29")]),
    ("G1", {}, [action("G1", SCHOOL, "working_days:1", "Guide, p.4")]),
    (
        "G2",
        {},
        [action("G2", SCHOOL, "calendar_days:2", "Guide, p.4", target="local_executive")],
    ),
    (
        "G3",
        {},
        [transfer("G3", SCHOOL, POLICE, "immediate", "Guide, p.4")],
    ),
    (
        "G4",
        {},
        [transfer("G4", SCHOOL, ("guardianship", "kz-75-guardianship"), "immediate", "Guide, p.5")],
    ),
    ("G5", {}, [action("G5", SCHOOL, "immediate", "Guide, p.6")]),
    ("G6", {}, [transfer("G6", SCHOOL, NATIONAL_CR, "working_days:1", "Guide, p.7")]),
    (
        "G6-education-authority",
        {"reporter": EDU_AUTH},
        [transfer("G6", EDU_AUTH, NATIONAL_CR, "working_days:1", "Guide, p.7")],
    ),
    (
        "G7",
        {"flags": ["child_removed"], "reporter": POLICE},
        [
            transfer(
                "G7", EDU_AUTH, ("prosecutor", "kz-75-prosecutor"), "immediate", "Guide, p.12.2"
            )
        ],
    ),
    (
        "G8",
        {"flags": ["child_removed"], "reporter": POLICE},
        [action("G8", EDU_AUTH, "calendar_days:7", "Guide, p.12.4", delivered_to=EDU_AUTH[1])],
    ),
    (
        "G9",
        {"flags": ["child_removed", "under_three"], "reporter": POLICE},
        [action("G9", HEALTH, "immediate", "Guide, p.13.4", delivered_to=HEALTH[1])],
    ),
    (
        "S1",
        {"subject": "adult", "concerns": ["domestic_violence"], "reporter": POLICE},
        # The referral needs the person's consent: the police make it, the platform does not.
        [action("S1", POLICE, "immediate", f"Standard 14701, p.25-27{REPEALED}", target="shelter")],
    ),
    (
        "S12",
        {
            "subject": "adult",
            "concerns": ["domestic_violence"],
            "flags": ["refuses_police"],
            "reporter": SHELTER,
        },
        [transfer("S12", SHELTER, POLICE, "working_days:3", f"Standard 14701, p.35{REPEALED}")],
    ),
    (
        "F7",
        {
            "subject": "adult",
            "concerns": ["domestic_violence"],
            "flags": ["life_threat"],
            "reporter": FAMILY,
        },
        [
            action(
                "F7", FAMILY, "immediate", "Family Centre Rules 34499, p.22", target="mobile_group"
            )
        ],
    ),
    (
        "F7-told-to-the-centre",
        {"subject": "adult", "flags": ["life_threat"], "reporter": POLICE},
        [
            action(
                "F7",
                FAMILY,
                "immediate",
                "Family Centre Rules 34499, p.22",
                target="mobile_group",
                delivered_to=FAMILY[1],
            )
        ],
    ),
    (
        "F8",
        {"subject": "adult", "concerns": ["domestic_violence"], "reporter": FAMILY},
        [
            action(
                "F8", FAMILY, "working_days:2", "Family Centre Rules 34499, p.24", target="shelter"
            )
        ],
    ),
    # F10 opens on the centre admitting a person with children, not on a report:
    # test_routing_duties_as_written.py shows no report opens it.
]


def opened(duty: domain.Duty) -> Opens:
    return Opens(
        duty.code,
        (duty.actor.agency_type, duty.actor.agency_id),
        (duty.target.agency_type, duty.target.agency_id) if duty.target else None,
        duty.term,
        duty.legal_basis,
        duty.kind,
        # Where the platform delivers the case for it: its own referral, or the one referral
        # that carries every row sent to that agency at once.
        duty.delivery.agency.agency_id
        if duty.delivery
        else (duty.target.agency_id if duty.carried_by and duty.target else None),
        duty.met_by_platform,
    )


@pytest.mark.parametrize(
    ("facts", "expected"), [(f, e) for _, f, e in ROWS], ids=[i for i, _, _ in ROWS]
)
def test_each_row_opens_its_obligation(facts: dict[str, Any], expected: list[Opens]) -> None:
    got = [opened(d) for d in route(**facts).duties]
    for want in expected:
        assert want in got, f"{want.code}: {want} not in {[g for g in got if g.code == want.code]}"
    codes = {w.code for w in expected}
    assert len([g for g in got if g.code in codes]) == len(expected)


def test_terms_of_the_reporter_start_when_it_learned_and_of_a_receiver_at_delivery() -> None:
    duties = {(d.code, d.actor.agency_id): d for d in route().duties}
    assert duties[("R4", "school-17")].started_at == RECEIVED
    assert duties[("R6", "school-17")].started_at == RECEIVED
    # Rules 38874 p.12 runs from when the regional body received the case: the delivery.
    assert duties[("R8", CRR[1])].started_at == NOW
    assert duties[("R7", CRR[1])].started_at == NOW


def test_bullying_brings_only_r1_r2_r16_never_r18() -> None:
    codes = {d.code for d in route(concerns=["bullying"]).duties}
    assert codes == {"R1", "R2", "R16"}
    # The commission, when it receives a bullying case, owes R21 (p.29 names bullying).
    codes = {d.code for d in route(concerns=["bullying"], reporter=COMMISSION).duties}
    assert {"R1", "R2", "R16", "R21"} == codes


def test_violence_with_bullying_still_brings_r18() -> None:
    assert "R18" in {d.code for d in route(concerns=["bullying", "violence"]).duties}


def test_witnessed_violence_is_not_in_the_guide_rows_nor_r17_r18() -> None:
    codes = {d.code for d in route(concerns=["witnessed_violence"]).duties}
    assert not codes & {"G1", "G2", "G4", "G5", "G6", "R18"}
    assert {"R1", "R3", "R4", "R6", "R7", "R8", "R19"} <= codes


def test_rows_for_children_never_apply_to_an_adult_and_back() -> None:
    adult = {d.code for d in route(subject="adult", concerns=["domestic_violence"]).duties}
    assert not any(code.startswith(("R", "G")) for code in adult)
    assert adult == {"F8"}
    child = {d.code for d in route(concerns=["domestic_violence"]).duties}
    assert not child & {"F7", "F8", "F10", "S1", "S12"}


def test_s1_replaces_f8_when_police_healthcare_or_social_protection_report() -> None:
    for reporter in (POLICE, HEALTH, ("social_protection", "kz-75-social-protection")):
        codes = {
            d.code
            for d in route(
                subject="adult", concerns=["domestic_violence"], reporter=reporter
            ).duties
        }
        assert codes == {"S1"}, reporter


def test_f8_from_another_reporter_is_the_region_centres_to_make() -> None:
    duties = route(subject="adult", concerns=["domestic_violence"], reporter=C111).duties
    f8 = next(d for d in duties if d.code == "F8")
    assert (f8.actor.agency_id, f8.delivery and f8.delivery.agency.agency_id) == (
        FAMILY[1],
        FAMILY[1],
    )
    assert not f8.met_by_platform


def test_receiving_agencies_are_told_once_and_own_receipt_rows() -> None:
    duties = route().duties
    # The regional body has the case through R1: no separate message for R8-R20.
    delivered = [d.delivery.agency.agency_id for d in duties if d.delivery]
    assert delivered.count(CRR[1]) == 1
    r8 = next(d for d in duties if d.code == "R8")
    r1 = next(d for d in duties if d.code == "R1" and d.target and d.target.agency_id == CRR[1])
    assert r8.via_referral_id == r1.delivery.referral_id  # type: ignore[union-attr]


def test_the_reporting_agency_is_not_told_about_its_own_report() -> None:
    duties = route(reporter=POLICE).duties
    assert POLICE[1] not in {d.delivery.agency.agency_id for d in duties if d.delivery}
    # It still owes what police owe on receipt (Rules 38874 p.15), from when it learned.
    r16 = next(d for d in duties if d.code == "R16")
    assert (r16.actor.agency_id, r16.started_at, r16.delivery) == (POLICE[1], RECEIVED, None)


def test_child_rights_body_reporting_itself_owes_p12_from_when_it_learned() -> None:
    duties = {d.code: d for d in route(reporter=CRR).duties if d.actor.agency_id == CRR[1]}
    assert {"R7", "R8", "R9", "R12", "R13", "R19"} <= set(duties)
    assert duties["R8"].started_at == RECEIVED


def test_replayed_decision_opens_nothing_twice() -> None:
    first = route()
    again = domain.decide(
        case=domain.CaseFacts("case-1", "KZ-75", "minor", frozenset({"violence"}), frozenset()),
        reporter=domain.Reporter(domain.Party(*SCHOOL), RECEIVED, "report-1"),
        rules=RULES,
        directory=SEED,
        now=NOW,
        applied={d.key for d in first.duties},
    )
    assert again.duties == ()


def test_ids_are_derived_so_a_replay_gets_the_same_ones() -> None:
    assert [d.obligation_id for d in route().duties] == [d.obligation_id for d in route().duties]


# -- fallbacks ------------------------------------------------------------------------------


def test_guardianship_acts_where_the_region_has_no_child_rights_body() -> None:
    duties = route(directory=without(CRR[1])).duties
    r1 = [d for d in duties if d.code == "R1"]
    guardianship = "kz-75-guardianship"
    assert {d.target.agency_id for d in r1 if d.target} == {POLICE[1], guardianship, OMB[1]}
    to_guardianship = next(d for d in r1 if d.target and d.target.agency_id == guardianship)
    assert to_guardianship.delivery and to_guardianship.delivery.role == "child_rights_regional"
    for code in ("R7", "R8", "R9", "R12", "R13", "R18", "R19", "R20"):
        actors = {d.actor.agency_id for d in duties if d.code == code}
        assert actors == {guardianship}, code


def test_guardianship_reporting_where_no_child_rights_body_owes_p12_itself() -> None:
    guardianship = ("guardianship", "kz-75-guardianship")
    duties = route(reporter=guardianship, directory=without(CRR[1])).duties
    r8 = next(d for d in duties if d.code == "R8")
    assert (r8.actor.agency_id, r8.started_at, r8.delivery) == (guardianship[1], RECEIVED, None)
    assert guardianship[1] not in {d.delivery.agency.agency_id for d in duties if d.delivery}


def test_no_child_rights_body_nor_guardianship_escalates_to_the_national_body() -> None:
    duties = route(directory=without(CRR[1], "kz-75-guardianship")).duties
    gap = next(d for d in duties if d.code == "R1" and d.unresolved == "child_rights_regional")
    assert gap.delivery is None and not gap.met_by_platform
    assert gap.escalation is not None
    assert (gap.escalation.agency.agency_id, gap.escalation.purpose) == (
        NATIONAL_CR[1],
        "escalation",
    )


def test_no_regional_commissioner_escalates_to_the_national_commissioner() -> None:
    duties = route(directory=without(OMB[1])).duties
    gap = next(d for d in duties if d.code == "R1" and d.unresolved == "ombudsman_regional")
    assert gap.escalation and gap.escalation.agency.agency_id == "kz-ombudsman-national"


def test_no_police_escalates_to_the_regional_prosecutor() -> None:
    duties = route(directory=without(POLICE[1])).duties
    gap = next(d for d in duties if d.code == "R1" and d.unresolved == "police")
    assert gap.escalation and gap.escalation.agency.agency_id == "kz-75-prosecutor"


def test_an_acting_agency_missing_from_the_region_is_escalated_too() -> None:
    duties = route(flags=["child_removed"], reporter=POLICE, directory=without(EDU_AUTH[1])).duties
    g8 = next(d for d in duties if d.code == "G8")
    assert g8.unresolved == "education_authority" and g8.actor.agency_id is None
    assert g8.escalation and g8.escalation.agency.agency_id == "kz-75-prosecutor"


def test_decline_goes_to_the_national_body_then_the_prosecutor() -> None:
    # The region has its child-rights body: a decline is escalated, never handed to the
    # guardianship body, which stands in only where there is no such body (p.8).
    step = domain.after_decline(
        role="child_rights_regional", region="KZ-75", declined={CRR[1]}, directory=SEED, rules=RULES
    )
    assert (step.outcome, step.agency.agency_id) == (
        domain.ReferralStatus.ESCALATED,
        NATIONAL_CR[1],
    )
    step = domain.after_decline(
        role="police", region="KZ-75", declined={POLICE[1]}, directory=SEED, rules=RULES
    )
    assert (step.outcome, step.agency.agency_id) == (
        domain.ReferralStatus.ESCALATED,
        "kz-75-prosecutor",
    )
    with pytest.raises(domain.NoAgencyLeft):
        domain.after_decline(
            role="prosecutor",
            region="KZ-75",
            declined={"kz-75-prosecutor"},
            directory=SEED,
            rules=RULES,
        )


def test_a_second_agency_of_the_type_takes_a_decline_before_any_fallback() -> None:
    second = Agency("kz-75-police-2", "police", "KZ-75")
    step = domain.after_decline(
        role="police", region="KZ-75", declined={POLICE[1]}, directory=[*SEED, second], rules=RULES
    )
    assert (step.outcome, step.agency) == (domain.ReferralStatus.REROUTED, second)


def test_national_bodies_are_one_per_country() -> None:
    second = Agency("kz-child-rights-2", "child_rights_national", None)
    with pytest.raises(domain.DirectoryError):
        domain.check_directory_entry(second, rules=RULES, others=SEED, regions=["KZ-75"])
    with pytest.raises(domain.DirectoryInvalid):
        domain.check_directory_entry(
            Agency("x", "child_rights_national", "KZ-75"), rules=RULES, others=[], regions=["KZ-75"]
        )
    # An inactive second one may be kept (the successor, registered before the switch).
    domain.check_directory_entry(
        replace(second, active=False), rules=RULES, others=SEED, regions=["KZ-75"]
    )


# -- referral lifecycle ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "wanted", "allowed"),
    [
        ("issued", "acknowledged", True),
        ("issued", "declined", True),
        ("declined", "rerouted", True),
        ("declined", "escalated", True),
        ("acknowledged", "acknowledged", False),
        ("acknowledged", "declined", False),
        ("declined", "acknowledged", False),
        ("rerouted", "acknowledged", False),
        ("escalated", "declined", False),
        ("issued", "rerouted", False),
    ],
)
def test_referral_lifecycle(current: str, wanted: str, allowed: bool) -> None:
    target = domain.ReferralStatus(wanted)
    if allowed:
        assert domain.transition(current, target) is target
    else:
        with pytest.raises(domain.IllegalTransition):
            domain.transition(current, target)


def test_only_the_addressee_answers() -> None:
    domain.check_addressee("kz-75-police", "kz-75-police")
    with pytest.raises(domain.NotAddressee):
        domain.check_addressee("kz-75-police", "kz-75-prosecutor")


# -- versions -------------------------------------------------------------------------------


def amended(rules: domain.Rules, code: str, switch: date, **changes: Any) -> domain.Rules:
    """The rules with a row amended from a day: the old version ends, a new one starts."""
    rows = []
    for row in rules.rows:
        if row.code == code:
            rows.append(replace(row, effective_to=switch))
            rows.append(replace(row, version=row.version + 1, effective_from=switch, **changes))
        else:
            rows.append(row)
    return replace(rules, rows=tuple(rows))


def test_a_case_is_judged_by_the_rules_in_force_when_its_event_happened() -> None:
    rules = amended(RULES, "R6", date(2027, 1, 1), term="working_days:5")
    # 2026-12-31 23:30 in Almaty is still the old version's day ...
    before = datetime(2026, 12, 31, 18, 30, tzinfo=UTC)
    # ... and 2027-01-01 00:30 in Almaty the new one's, though still 2026 in UTC.
    after = datetime(2026, 12, 31, 19, 30, tzinfo=UTC)
    r6 = {
        when: next(d for d in route(received=when, now=when, rules=rules).duties if d.code == "R6")
        for when in (before, after)
    }
    assert (r6[before].term, r6[after].term) == ("working_days:3", "working_days:5")


def test_rules_not_yet_in_force_open_nothing() -> None:
    early = datetime(2026, 6, 1, 6, tzinfo=UTC)
    codes = {d.code for d in route(received=early, now=early).duties}
    assert not any(code.startswith("R") for code in codes)
    assert {"G1", "G4", "G5", "G6"} <= codes


def test_overlapping_versions_are_refused() -> None:
    data = json.loads(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))
    twin = {**data["rows"][0], "version": 2}
    with pytest.raises(ValueError, match="overlap"):
        catalogue.parse({**data, "rows": [*data["rows"], twin]})


# -- the catalogue as data ------------------------------------------------------------------


def test_every_entry_is_well_formed() -> None:
    types = {t.value for t in AgencyType}
    acts = {"Rules 38874", "Guide", "Standard 14701", "Family Centre Rules 34499"}
    for row in RULES.rows:
        assert row.legal_basis.split(",")[0] in acts, row.code
        assert re.search(r"p\.\d", row.legal_basis), row.code
        assert row.term == domain.NO_TERM or str(Term.parse(row.term)) == row.term
        named = [t.agency_type for t in row.targets] + [row.involves or "police"]
        if row.actor not in (domain.REPORTER, domain.RECEIVER):
            named.append(row.actor)
        if row.received_by:
            named.append(row.received_by)
        assert set(named) <= types, row.code
        assert row.effective_from <= NOW.date()
    for kind, stand_ins in RULES.stand_ins.items():
        assert {kind, *stand_ins} <= types
    assert set(RULES.supervisors) | set(RULES.supervisors.values()) <= types
    assert RULES.last_resort in types


def test_seed_directory_covers_every_region_with_one_national_body_each() -> None:
    from shared.agencies import regions

    assert {a.region for a in SEED if a.region} == set(regions())
    assert all(is_region(a.region) for a in SEED if a.region)
    for kind in RULES.national_types:
        assert len([a for a in SEED if a.agency_type == kind and a.active]) == 1
    ids = [a.agency_id for a in SEED]
    assert len(ids) == len(set(ids))


# Rows of the digest between agencies that routing carries out, by table.
CARRIED = {
    "R": {f"R{n}" for n in range(1, 22)},
    "G": {f"G{n}" for n in range(1, 10)},
    "S": {"S1", "S12"},
    "F": {"F7", "F8", "F10"},
}
# Rows that name another agency but happen inside a service's own procedure, which opens them
# through the same obligation contract (docs/obligations.md).
OWNED_ELSEWHERE = {
    "S2": "shelter: refer to healthcare on a contraindication, during admission",
    "S4": "shelter: the identification interview with social protection and police",
    "S5": "shelter: the sheet to social protection after identification",
    "S7": "shelter: social protection decides on the sheet",
    "S8": "shelter: social protection sends its decision back",
    "F9": "family centre: a stay on a referral it receives",
}


def digest_rows() -> dict[str, str]:
    """Return each obligation row of the digest: code -> the row's text."""
    rows = {}
    for line in DIGEST.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\|\s*([RGSF]\d+)\s*\|", line)
        if match:
            rows[match.group(1)] = line
    return rows


def test_every_row_involving_another_agency_is_in_the_catalogue() -> None:
    in_catalogue = {row.code for row in RULES.rows}
    assert set().union(*CARRIED.values()) <= in_catalogue
    assert in_catalogue <= set().union(*CARRIED.values())
    if not DIGEST.exists():
        pytest.skip(f"the handbook's digest is not beside the repository ({DIGEST})")
    rows = digest_rows()
    types = {t.value for t in AgencyType}
    for code, text in rows.items():
        names_another = any(f"`{t}`" in text for t in types)
        if code[0] in "RG":
            assert code in in_catalogue, code
        elif names_another:
            assert code in in_catalogue or code in OWNED_ELSEWHERE, code
    assert set(OWNED_ELSEWHERE) <= set(rows)
