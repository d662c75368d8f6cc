"""The family centre's rules (Family Centre Rules 34499): rows, terms and illegal steps."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from services.familycentre import domain
from services.familycentre.domain import Channel, ResponseKind, Stage
from services.familycentre.handlers.reports import report_body
from services.familycentre.tables import Stay

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_each_channel_cites_its_point_of_p12_and_the_procedure_of_p13_or_p14() -> None:
    assert domain.f1(Channel.PERSON).legal_basis == "Family Centre Rules 34499, p.12.1, p.13"
    assert domain.f1(Channel.MEDIA).legal_basis == "Family Centre Rules 34499, p.12.5"
    assert domain.f2(Channel.PERSON).legal_basis.endswith("p.13.1")
    assert domain.f2(Channel.CONTACT_CENTRE_111).legal_basis.endswith("p.14.1")
    assert domain.f4(Channel.STATE_SYSTEMS).legal_basis.endswith("p.14.3")


def test_terms_of_the_rows() -> None:
    assert domain.f1(Channel.PERSON).term == "immediate"
    assert domain.f2(Channel.PERSON).term == "working_days:1"
    assert domain.f3(Channel.PERSON, threat_to_life=False).term == "working_days:3"
    assert domain.f3(Channel.PERSON, threat_to_life=True).term == "working_days:1"
    assert domain.f4(Channel.PERSON).term == "none"
    assert (domain.F5.term, domain.F6.term, domain.F7.term) == ("months:12", "none", "immediate")
    assert (domain.F8.term, domain.F9.term) == ("working_days:2", "months:1")


def test_an_interview_needs_consent_other_channels_do_not() -> None:
    with pytest.raises(domain.InvalidInput) as refused:
        domain.check_appeal(Channel.PERSON, consent_given_on=None, received_at=NOW, now=NOW)
    assert refused.value.field == "consent"
    domain.check_appeal(
        Channel.PERSON, consent_given_on=date(2026, 11, 23), received_at=NOW, now=NOW
    )
    domain.check_appeal(Channel.CONTACT_CENTRE_111, consent_given_on=None, received_at=NOW, now=NOW)
    with pytest.raises(domain.InvalidInput, match="received_at"):
        domain.check_appeal(
            Channel.MEDIA, consent_given_on=None, received_at=NOW + timedelta(minutes=1), now=NOW
        )


def test_the_first_response_is_a_consultation_and_or_a_redirect_once() -> None:
    with pytest.raises(domain.InvalidInput, match="redirect_to_agency_id"):
        domain.check_first_response(
            ResponseKind.REDIRECT, None, responded=False, done_at=NOW, since=NOW
        )
    with pytest.raises(domain.InvalidInput, match="redirect_to_agency_id"):
        domain.check_first_response(
            ResponseKind.CONSULTATION, "x", responded=False, done_at=NOW, since=NOW
        )
    with pytest.raises(domain.IllegalTransition):
        domain.check_first_response(
            ResponseKind.CONSULTATION, None, responded=True, done_at=NOW, since=NOW
        )
    with pytest.raises(domain.InvalidInput, match="done_at"):
        domain.check_first_response(
            ResponseKind.CONSULTATION, None, responded=False, done_at=NOW, since=NOW + timedelta(1)
        )


def test_an_assessment_under_threat_needs_emergency_measures_and_needs_follow_it() -> None:
    with pytest.raises(domain.InvalidInput, match="emergency_measures"):
        domain.check_assessment(
            Stage.RECEIVED, threat_to_life=True, emergency_measures=(), done_at=NOW, since=NOW
        )
    domain.check_assessment(
        Stage.RECEIVED, threat_to_life=True, emergency_measures=("stay",), done_at=NOW, since=NOW
    )
    with pytest.raises(domain.IllegalTransition):
        domain.check_assessment(
            Stage.ASSESSED, threat_to_life=False, emergency_measures=(), done_at=NOW, since=NOW
        )
    with pytest.raises(domain.IllegalTransition):
        domain.check_needs(Stage.RECEIVED, done_at=NOW, since=NOW)
    domain.check_needs(Stage.ASSESSED, done_at=NOW, since=NOW)


def test_a_mobile_group_is_approved_for_one_calendar_year_by_the_akims_order() -> None:
    term = domain.GroupTerm(2026, "No. 12-p", date(2026, 1, 10))
    assert (term.valid_from, term.valid_to) == (date(2026, 1, 1), date(2026, 12, 31))
    assert term.covers(date(2026, 12, 31)) and not term.covers(date(2027, 1, 1))
    domain.check_group(term, ["education_authority", "healthcare", "police"])
    with pytest.raises(domain.InvalidInput, match="order_ref"):
        domain.check_group(domain.GroupTerm(2026, " ", date(2026, 1, 10)), ["police"])
    with pytest.raises(domain.InvalidInput, match=r"members\.0\.agency_type"):
        domain.check_group(term, ["shelter"])
    with pytest.raises(domain.InvalidInput, match="order_date"):
        domain.check_group(domain.GroupTerm(2026, "No. 1", date(2027, 1, 2)), ["police"])


def test_a_stay_is_extended_within_its_month_never_past_it() -> None:
    admitted = datetime(2026, 1, 31, 5, 0, tzinfo=UTC)
    domain.check_extension(
        ended=False, admitted_at=admitted, until=date(2026, 2, 10), new_until=date(2026, 2, 28)
    )
    with pytest.raises(domain.InvalidInput) as past:
        domain.check_extension(
            ended=False, admitted_at=admitted, until=date(2026, 2, 10), new_until=date(2026, 3, 1)
        )
    assert past.value.field == "until" and "p.6.4, p.23.5" in past.value.message
    with pytest.raises(domain.InvalidInput):
        domain.check_extension(
            ended=False, admitted_at=admitted, until=date(2026, 2, 10), new_until=date(2026, 2, 10)
        )
    with pytest.raises(domain.IllegalTransition):
        domain.check_extension(
            ended=True, admitted_at=admitted, until=date(2026, 2, 10), new_until=date(2026, 2, 20)
        )


def test_a_room_holds_its_places_and_must_be_declared() -> None:
    domain.check_room(capacity=4, occupied=1, coming=3)
    with pytest.raises(domain.IllegalTransition):
        domain.check_room(capacity=4, occupied=2, coming=3)
    with pytest.raises(domain.InvalidInput) as undeclared:
        domain.check_room(capacity=None, occupied=0, coming=1)
    assert undeclared.value.field == "room"
    domain.check_capacity(capacity=3, occupied=3)
    with pytest.raises(domain.IllegalTransition):
        domain.check_capacity(capacity=2, occupied=3)


def test_p23_measures_cite_their_point_and_need_signs_of_domestic_violence() -> None:
    assert domain.SUPPORT_CLAUSE[domain.SupportKind.PSYCHOLOGICAL] == "p.23.1"
    assert domain.SUPPORT_CLAUSE[domain.SupportKind.MEDICAL_ASSISTANCE] == "p.23.3"
    assert domain.SUPPORT_CLAUSE[domain.SupportKind.STATE_SUPPORT_CONSULTATION] == "p.23.4"
    day = date(2026, 11, 23)
    domain.check_measure(domestic_violence=True, provided_on=day, received_on=day, today=day)
    with pytest.raises(domain.IllegalTransition):
        domain.check_measure(domestic_violence=False, provided_on=day, received_on=day, today=day)
    with pytest.raises(domain.InvalidInput):
        domain.check_measure(
            domestic_violence=True, provided_on=day + timedelta(days=1), received_on=day, today=day
        )


def test_a_stay_lasts_at_most_one_month() -> None:
    admitted = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)
    assert domain.stay_limit(date(2026, 1, 31)) == date(2026, 2, 28)
    domain.check_stay(admitted_at=admitted, until=date(2026, 2, 28), now=admitted)
    with pytest.raises(domain.InvalidInput, match="until"):
        domain.check_stay(admitted_at=admitted, until=date(2026, 3, 1), now=admitted)
    with pytest.raises(domain.InvalidInput, match="until"):
        domain.check_stay(admitted_at=admitted, until=date(2026, 1, 30), now=admitted)
    with pytest.raises(domain.IllegalTransition):
        domain.check_stay_end(ended=True, admitted_at=admitted, left_at=admitted)


def test_the_appendix_staff_by_appeal_rate() -> None:
    assert [domain.appeal_band(rate) for rate in (0, 50, 51, 100, 101)] == [0, 0, 1, 1, 2]
    assert domain.staff_gaps(120, {**{k: v[2] for k, v in domain.STAFF_MINIMUM.items()}}) == {}
    gaps = domain.staff_gaps(40, {"director": 1})
    assert gaps["social_worker"] == 2 and "deputy_director" not in gaps
    assert domain.staff_gaps(101, {})["prevention_specialist"] == 3


def test_ids_are_derived_so_a_replay_opens_nothing_twice() -> None:
    first = domain.obligation_id("case", "F2", "centre", "appeal")
    assert first == domain.obligation_id("case", "F2", "centre", "appeal")
    assert first != domain.obligation_id("case", "F3", "centre", "appeal")


def test_the_report_to_intake_names_the_children_it_knows_and_counts_them_all() -> None:
    stay = Stay(
        stay_id="s",
        case_id="c",
        centre_agency_id="kz-75-family-support-centre",
        region="KZ-75",
        basis="referral_police",
        room="1",
        admitted_at=NOW,
        until=date(2026, 12, 1),
        people="",
    )
    body = report_body(
        stay,
        {"full_name": "Айгүл", "iin": "900101400013", "contacts": "+7 701"},
        [{"full_name": "Ерлан", "birth_date": "2017-03-01"}, {}],
    )
    assert body["reporter"]["agency_type"] == "family_support_centre"
    assert body["subject"] == {"kind": "adult", "full_name": "Айгүл", "iin": "900101400013"}
    assert (body["channel"], body["concerns"]) == ("reception", ["domestic_violence"])
    assert body["children"] == [{"full_name": "Ерлан", "birth_date": "2017-03-01"}]
    assert body["accompanying_minors"] == 2
