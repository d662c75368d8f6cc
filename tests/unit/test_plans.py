"""The shared plan model: each kind's rules, every legal and illegal step."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared.plans import (
    EDUCATION_WORK,
    EMERGENCY_RESPONSE,
    FAMILY_WORK,
    PLAN_KINDS,
    REHABILITATION,
    SHELTER_WORK,
    Consent,
    LineStatus,
    MonitoringEntry,
    Plan,
    PlanInvalid,
    PlanLine,
    PlanLocked,
    VersionStatus,
)

AGENCIES = {"psc-1", "fsc-1", "clinic-1", "soc-1"}
START = date(2026, 12, 1)
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def rehab_draft() -> Plan:
    return Plan.draft(
        "p1",
        REHABILITATION,
        "case-1",
        period_start=START,
        period_end=date(2027, 5, 31),
        assessed_from=date(2026, 11, 30),
        assessed_to=date(2026, 11, 30),
    )


def line(line_id: str = "l1", kind: str = "psychological", **overrides: object) -> PlanLine:
    values: dict[str, object] = {
        "line_id": line_id,
        "kind": kind,
        "activity": "individual sessions",
        "assigned_on": START,
        "due_on": date(2026, 12, 20),
        "responsible": "psc-1",
    }
    values.update(overrides)
    return PlanLine(**values)  # type: ignore[arg-type]


def approved_rehab() -> Plan:
    plan = rehab_draft().add_line(line(), agencies=AGENCIES)
    plan = plan.add_line(line("l2", "social", responsible="fsc-1"), agencies=AGENCIES)
    plan = plan.record_consent(Consent(name="A. Parent", given_on=START))
    return plan.approve(by="head-1", at=NOW, agencies=AGENCIES)


def test_rehabilitation_kind_is_appendix_2() -> None:
    assert [k.code for k in REHABILITATION.line_kinds] == [
        "medical",
        "psychological",
        "pedagogical",
        "social",
        "legal",
    ]
    assert REHABILITATION.row == "R20"
    assert set(PLAN_KINDS) == {
        "rehabilitation",
        "education_work",
        "family_work",
        "shelter_work",
        "emergency_response",
    }


def test_approve_fixes_the_version() -> None:
    plan = approved_rehab()
    assert plan.current.status is VersionStatus.APPROVED
    assert plan.in_force is plan.current
    assert plan.current.approval is not None and plan.current.approval.by == "head-1"
    assert [ln.status for ln in plan.lines()] == [LineStatus.OPEN, LineStatus.OPEN]


def test_draft_steps_do_not_change_the_original() -> None:
    draft = rehab_draft()
    draft.add_line(line(), agencies=AGENCIES)
    assert draft.current.lines == ()


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (line(kind="spiritual"), "kind"),
        (line(responsible="nobody"), "responsible"),
        (line(responsible=None), "responsible"),
        (line(activity=" "), "activity"),
        (line(due_on=date(2026, 11, 30)), "due_on"),
        (line(due_on=date(2027, 6, 1)), "due_on"),
        (line(done_on=START, status=LineStatus.DONE), "status"),
    ],
)
def test_bad_line_is_refused_naming_the_field(bad: PlanLine, field: str) -> None:
    with pytest.raises(PlanInvalid) as caught:
        rehab_draft().add_line(bad, agencies=AGENCIES)
    assert caught.value.field == field
    assert caught.value.line_id == "l1"


def test_agencies_may_be_a_callable() -> None:
    plan = rehab_draft().add_line(line(), agencies=lambda agency_id: agency_id == "psc-1")
    assert plan.current.lines[0].responsible == "psc-1"
    with pytest.raises(PlanInvalid, match="responsible"):
        rehab_draft().add_line(line(), agencies=lambda agency_id: False)


def test_duplicate_line_id_is_refused() -> None:
    plan = rehab_draft().add_line(line(), agencies=AGENCIES)
    with pytest.raises(PlanInvalid) as caught:
        plan.add_line(line(), agencies=AGENCIES)
    assert caught.value.field == "line_id"


def test_replace_and_remove_line_on_a_draft() -> None:
    plan = rehab_draft().add_line(line(), agencies=AGENCIES)
    plan = plan.replace_line(line(activity="group sessions"), agencies=AGENCIES)
    assert plan.current.lines[0].activity == "group sessions"
    assert plan.remove_line("l1").current.lines == ()
    with pytest.raises(PlanInvalid):
        plan.remove_line("nope")


@pytest.mark.parametrize(
    ("prepare", "field"),
    [
        (lambda p: p, "lines"),
        (lambda p: p.add_line(line(), agencies=AGENCIES), "consent"),
        (
            lambda p: p.add_line(line(), agencies=AGENCIES).record_consent(
                Consent(not_obtained_reason="parent deprived of rights")
            ),
            None,
        ),
        (lambda p: p.edit(assessed_from=None), "assessed_from"),
    ],
)
def test_approval_requires_the_form(prepare, field: str | None) -> None:  # type: ignore[no-untyped-def]
    plan = prepare(rehab_draft())
    if field is None:
        assert plan.approve(by="head", at=NOW, agencies=AGENCIES).in_force is not None
        return
    with pytest.raises(PlanInvalid) as caught:
        plan.approve(by="head", at=NOW, agencies=AGENCIES)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("consent", "field"),
    [
        (Consent(name="", given_on=START), "consent.name"),
        (Consent(name="A. Parent"), "consent.given_on"),
        (Consent(name="A. Parent", given_on=START, not_obtained_reason="x"), "consent"),
    ],
)
def test_bad_consent_is_refused(consent: Consent, field: str) -> None:
    with pytest.raises(PlanInvalid) as caught:
        rehab_draft().record_consent(consent)
    assert caught.value.field == field


def test_approval_rechecks_organisations_against_the_directory() -> None:
    plan = rehab_draft().add_line(line(), agencies=AGENCIES)
    plan = plan.record_consent(Consent(name="A. Parent", given_on=START))
    with pytest.raises(PlanInvalid) as caught:
        plan.approve(by="head", at=NOW, agencies={"fsc-1"})
    assert caught.value.field == "responsible"


def test_approval_needs_an_aware_time_and_an_approver() -> None:
    plan = approved_rehab().revise(reason="x", at=NOW)
    with pytest.raises(PlanInvalid, match="approved_at"):
        plan.approve(by="head", at=datetime(2026, 12, 2, 9), agencies=AGENCIES)
    with pytest.raises(PlanInvalid, match="approved_by"):
        plan.approve(by=" ", at=NOW, agencies=AGENCIES)


@pytest.mark.parametrize(
    "step",
    [
        lambda p: p.add_line(line("l9"), agencies=AGENCIES),
        lambda p: p.replace_line(line(), agencies=AGENCIES),
        lambda p: p.remove_line("l1"),
        lambda p: p.edit(remarks="changed"),
        lambda p: p.record_consent(Consent(name="B", given_on=START)),
        lambda p: p.approve(by="head", at=NOW, agencies=AGENCIES),
    ],
)
def test_an_approved_version_is_never_edited(step) -> None:  # type: ignore[no-untyped-def]
    plan = approved_rehab()
    with pytest.raises(PlanLocked) as caught:
        step(plan)
    assert caught.value.field == "status"


def test_revision_is_a_new_version_and_keeps_history() -> None:
    plan = approved_rehab()
    plan = plan.record_outcome(
        "l1",
        LineStatus.DONE,
        done_on=date(2026, 12, 10),
        result="5 sessions",
        today=START.replace(day=10),
    )
    revised = plan.revise(reason="new school", at=NOW)
    assert [v.number for v in revised.versions] == [1, 2]
    assert revised.current.status is VersionStatus.DRAFT
    assert revised.current.consent is None  # consent is given to a version
    assert revised.in_force is revised.versions[0]
    revised = revised.add_line(line("l3", "legal", responsible="soc-1"), agencies=AGENCIES)
    revised = revised.record_consent(Consent(name="A. Parent", given_on=date(2026, 12, 11)))
    later = datetime(2026, 12, 11, 9, tzinfo=UTC)
    revised = revised.approve(by="head-1", at=later, agencies=AGENCIES)
    assert [v.status for v in revised.versions] == [
        VersionStatus.SUPERSEDED,
        VersionStatus.APPROVED,
    ]
    assert revised.versions[0].lines == plan.versions[0].lines  # history unchanged
    lines = {ln.line_id: ln for ln in revised.lines()}
    assert lines["l1"].status is LineStatus.DONE  # outcome carried by line id
    assert lines["l3"].status is LineStatus.OPEN
    with pytest.raises(PlanLocked):
        revised.revise(reason="x", at=later).revise(reason="y", at=later)
    with pytest.raises(PlanInvalid, match="revision_reason"):
        revised.revise(reason="", at=later)


def test_outcomes() -> None:
    plan = approved_rehab()
    done = plan.record_outcome(
        "l1", LineStatus.DONE, done_on=date(2026, 12, 5), result="ok", today=date(2026, 12, 5)
    )
    assert done.lines()[0].done_on == date(2026, 12, 5)
    assert done.lines()[0].result == "ok"
    not_done = plan.record_outcome(
        "l2", LineStatus.NOT_DONE, done_on=None, result="family moved", today=START
    )
    assert not_done.lines()[1].status is LineStatus.NOT_DONE


@pytest.mark.parametrize(
    ("status", "done_on", "result", "field"),
    [
        (LineStatus.DONE, date(2026, 11, 30), "ok", "done_on"),  # before assigned
        (LineStatus.DONE, date(2026, 12, 9), "ok", "done_on"),  # in the future
        (LineStatus.DONE, None, "ok", "done_on"),
        (LineStatus.NOT_DONE, START, "x", "done_on"),
        (LineStatus.NOT_DONE, None, "", "result"),
        (LineStatus.OPEN, None, None, "status"),
    ],
)
def test_bad_outcome_is_refused(
    status: LineStatus, done_on: date | None, result: str, field: str
) -> None:
    with pytest.raises(PlanInvalid) as caught:
        approved_rehab().record_outcome(
            "l1", status, done_on=done_on, result=result, today=date(2026, 12, 5)
        )
    assert caught.value.field == field


def test_outcome_needs_an_approved_plan_and_is_recorded_once() -> None:
    with pytest.raises(PlanLocked):
        rehab_draft().record_outcome("l1", LineStatus.DONE, done_on=START, result="ok", today=START)
    plan = approved_rehab().record_outcome(
        "l1", LineStatus.DONE, done_on=START, result="ok", today=START
    )
    with pytest.raises(PlanLocked):
        plan.record_outcome("l1", LineStatus.DONE, done_on=START, result="ok", today=START)
    with pytest.raises(PlanInvalid, match="line_id"):
        plan.record_outcome("zz", LineStatus.DONE, done_on=START, result="ok", today=START)


def test_rehabilitation_ends_with_the_case_only() -> None:
    plan = approved_rehab()
    with pytest.raises(PlanInvalid, match="ground"):
        plan.end(ground="bored", ended_on=START, by="head")
    ended = plan.end(ground="case_closed", ended_on=START, by="head")
    with pytest.raises(PlanLocked):
        ended.revise(reason="x", at=NOW)
    with pytest.raises(PlanLocked):
        ended.record_outcome("l1", LineStatus.DONE, done_on=START, result="ok", today=START)
    with pytest.raises(PlanLocked):
        rehab_draft().end(ground="case_closed", ended_on=START, by="head")


# --- family centre (Family Centre Rules 34499 p.15-19) -------------------------------------


def family_draft(end: date = date(2027, 11, 30)) -> Plan:
    return Plan.draft(
        "f1",
        FAMILY_WORK,
        "person-1",
        period_start=START,
        period_end=end,
        specialists=("lawyer", "psychologist"),
    )


def test_family_plan_is_at_most_one_year() -> None:
    assert family_draft(date(2027, 12, 1)).current.period_end == date(2027, 12, 1)
    with pytest.raises(PlanInvalid) as caught:
        family_draft(date(2027, 12, 2))
    assert caught.value.field == "period_end"
    with pytest.raises(PlanInvalid) as caught:
        family_draft().edit(period_end=date(2028, 1, 1))
    assert caught.value.field == "period_end"


def test_family_lines_state_support_and_own_steps() -> None:
    plan = family_draft().add_line(
        line(kind="state_support", responsible="soc-1"), agencies=AGENCIES
    )
    plan = plan.add_line(line("l2", "own_steps", responsible=None), agencies=AGENCIES)
    assert len(plan.current.lines) == 2
    with pytest.raises(PlanInvalid, match="responsible"):
        plan.add_line(line("l3", "own_steps", responsible="soc-1"), agencies=AGENCIES)
    with pytest.raises(PlanInvalid, match="responsible"):
        plan.add_line(line("l3", "state_support", responsible=None), agencies=AGENCIES)
    with pytest.raises(PlanInvalid) as caught:
        plan.add_line(line("l3", "state_support", due_on=date(2027, 12, 2)), agencies=AGENCIES)
    assert caught.value.field == "due_on"


def test_family_plan_needs_employee_and_person_before_the_head() -> None:
    plan = family_draft().add_line(
        line(kind="state_support", responsible="soc-1"), agencies=AGENCIES
    )
    with pytest.raises(PlanInvalid) as caught:
        plan.approve(by="head", at=NOW, agencies=AGENCIES)
    assert caught.value.field == "signoffs.employee"
    plan = plan.sign("employee", "emp-1", START)
    with pytest.raises(PlanInvalid) as caught:
        plan.approve(by="head", at=NOW, agencies=AGENCIES)
    assert caught.value.field == "signoffs.person"  # approved before the person signs it
    plan = plan.sign("person", "the person", START)
    assert plan.approve(by="head", at=NOW, agencies=AGENCIES).in_force is not None
    with pytest.raises(PlanInvalid, match="role"):
        plan.sign("parent", "x", START)
    with pytest.raises(PlanInvalid, match="consent"):
        plan.record_consent(Consent(name="x", given_on=START))


def test_family_specialists_and_grounds() -> None:
    with pytest.raises(PlanInvalid, match="specialists"):
        family_draft().edit(specialists=("astrologer",))
    plan = (
        family_draft()
        .add_line(line(kind="state_support", responsible="soc-1"), agencies=AGENCIES)
        .sign("employee", "emp-1", START)
        .sign("person", "the person", START)
        .approve(by="head", at=NOW, agencies=AGENCIES)
    )
    for ground in ("fulfilled", "refused", "not_carried_out"):
        assert plan.end(ground=ground, ended_on=START, by="head").ending is not None
    with pytest.raises(PlanInvalid) as caught:
        plan.end(ground="other_confirmed", ended_on=START, by="head")
    assert caught.value.field == "note"  # p.19.4: objectively confirmed circumstances
    ended = plan.end(ground="other_confirmed", ended_on=START, by="head", note="moved abroad")
    assert ended.ending is not None and ended.ending.note == "moved abroad"
    with pytest.raises(PlanInvalid, match="ended_on"):
        plan.end(ground="fulfilled", ended_on=date(2026, 12, 9), by="head", today=START)
    with pytest.raises(PlanInvalid, match="ground"):
        plan.end(ground="", ended_on=START, by="head")


# --- shelter (Standard 14701 p.17-24, p.33) ------------------------------------------------


def shelter_plan() -> Plan:
    plan = Plan.draft(
        "s1",
        SHELTER_WORK,
        "recipient-1",
        period_start=START,
        period_end=date(2027, 6, 1),
        assessed_from=START,
        assessed_to=START,
    )
    plan = plan.add_line(
        line(kind="social_psychological", responsible=None, assigned_by="spec-1"),
        agencies=AGENCIES,
    )
    return plan.approve(by="head", at=NOW, agencies=AGENCIES)


def test_shelter_kinds_are_the_eight_of_p24() -> None:
    assert len(SHELTER_WORK.line_kinds) == 8
    assert SHELTER_WORK.line_kinds[7].clause == "Standard 14701, p.24.8"


def test_shelter_plan_runs_the_contract_term_and_its_extension() -> None:
    with pytest.raises(PlanInvalid, match="period_end"):
        Plan.draft("s1", SHELTER_WORK, "r", period_start=START, period_end=date(2027, 6, 2))
    plan = shelter_plan().revise(reason="inpatient care", at=NOW)
    extended = plan.extend(period_end=date(2027, 9, 1))
    assert extended.current.extended
    with pytest.raises(PlanInvalid, match="period_end"):
        plan.extend(period_end=date(2027, 9, 2))
    with pytest.raises(PlanInvalid, match="extension"):
        approved_rehab().revise(reason="x", at=NOW).extend(period_end=date(2027, 9, 1))


def test_shelter_monitoring_is_quarterly() -> None:
    plan = shelter_plan()
    assert plan.monitoring_due() == date(2027, 3, 1)
    entry = MonitoringEntry(
        observed_on=date(2027, 3, 1),
        by="spec-1",
        state="positive",
        corrections=("social_labour",),
    )
    plan = plan.monitor(entry, today=date(2027, 3, 1))
    assert plan.monitoring_due() == date(2027, 6, 1)
    with pytest.raises(PlanInvalid, match="corrections"):
        plan.monitor(
            MonitoringEntry(date(2027, 3, 2), "spec-1", "negative", corrections=("medical",)),
            today=date(2027, 3, 2),
        )
    with pytest.raises(PlanInvalid, match="observed_on"):
        plan.monitor(MonitoringEntry(date(2027, 4, 1), "s", "positive"), today=date(2027, 3, 2))
    with pytest.raises(PlanInvalid, match="state"):
        plan.monitor(MonitoringEntry(date(2027, 3, 2), "s", "fine"), today=date(2027, 3, 2))
    with pytest.raises(PlanLocked):
        rehab_draft().monitor(MonitoringEntry(START, "s", "positive"), today=START)


def test_education_work_plan_has_the_guides_two_parts() -> None:
    assert [k.code for k in EDUCATION_WORK.line_kinds] == ["work_with_family", "work_with_child"]
    plan = Plan.draft(
        "e1", EDUCATION_WORK, "case-1", period_start=START, period_end=date(2027, 5, 31)
    )
    plan = plan.add_line(line(kind="work_with_family", responsible=None), agencies=AGENCIES)
    plan = plan.approve(by="head", at=NOW, agencies=AGENCIES)
    assert plan.in_force is not None


def test_shelter_lines_name_the_specialist_who_assigned_them() -> None:
    draft = Plan.draft("s1", SHELTER_WORK, "r", period_start=START, period_end=date(2027, 6, 1))
    with pytest.raises(PlanInvalid) as caught:
        draft.add_line(line(kind="social_legal", responsible=None), agencies=AGENCIES)
    assert caught.value.field == "assigned_by"
    signed = draft.sign("specialist", "spec-1", START)  # Appendix 1: the specialist's place
    assert signed.current.signoffs[0].role == "specialist"
    with pytest.raises(PlanInvalid, match="role"):
        rehab_draft().sign("specialist", "spec-1", START)


def test_monitoring_counts_quarters_from_the_start() -> None:
    plan = shelter_plan()
    assert plan.monitoring_due() == date(2027, 3, 1)
    # An early entry covers the first quarter; the schedule keeps to the start's rhythm.
    early = plan.monitor(
        MonitoringEntry(date(2027, 2, 15), "s", "no_change"), today=date(2027, 2, 15)
    )
    assert early.monitoring_due() == date(2027, 6, 1)
    both = early.monitor(
        MonitoringEntry(date(2027, 5, 30), "s", "positive"), today=date(2027, 5, 30)
    )
    assert both.monitoring_due() is None  # the period ends on 2027-06-01
    assert (
        both.end(ground="request", ended_on=date(2027, 5, 30), by="head").monitoring_due() is None
    )
    assert approved_rehab().monitoring_due() is None  # the rehabilitation plan sets no rhythm


def test_an_agency_sees_its_own_lines() -> None:
    plan = approved_rehab()
    assert [ln.line_id for ln in plan.lines_for("fsc-1")] == ["l2"]
    assert plan.lines_for("clinic-1") == ()


def test_plan_round_trips_through_pydantic() -> None:
    # Casework stores a plan as JSON with pydantic (services/casework/records.py).
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Plan)
    plan = approved_rehab().record_outcome(
        "l1", LineStatus.DONE, done_on=START, result="ok", today=START
    )
    plan = plan.revise(reason="x", at=NOW)
    assert adapter.validate_json(adapter.dump_json(plan)) == plan
    monitored = shelter_plan().monitor(MonitoringEntry(START, "s", "positive"), today=START)
    assert adapter.validate_json(adapter.dump_json(monitored)) == monitored


def test_nothing_is_signed_after_the_approval() -> None:
    plan = rehab_draft().add_line(line(), agencies=AGENCIES)
    late = plan.record_consent(Consent(name="A. Parent", given_on=date(2026, 12, 2)))
    with pytest.raises(PlanInvalid) as caught:
        late.approve(by="head", at=NOW, agencies=AGENCIES)  # 14:00 on 1 December in Almaty
    assert caught.value.field == "consent.given_on"
    evening = datetime(2026, 12, 1, 19, 30, tzinfo=UTC)  # already 2 December in Almaty
    assert late.approve(by="head", at=evening, agencies=AGENCIES).in_force is not None
    family = (
        family_draft()
        .add_line(line(kind="state_support", responsible="soc-1"), agencies=AGENCIES)
        .sign("employee", "emp-1", START)
        .sign("person", "the person", date(2026, 12, 3))
    )
    with pytest.raises(PlanInvalid) as caught:
        family.approve(by="head", at=NOW, agencies=AGENCIES)
    assert caught.value.field == "signoffs.person"


def test_versions_are_read_by_number() -> None:
    revised = approved_rehab().revise(reason="x", at=NOW).remove_line("l2")
    assert revised.version().number == 1  # the one in force
    assert [ln.line_id for ln in revised.lines(2)] == ["l1"]
    assert [ln.line_id for ln in revised.lines()] == ["l1", "l2"]
    with pytest.raises(PlanInvalid) as caught:
        revised.version(3)
    assert caught.value.field == "version"


def test_emergency_response_plan_names_the_responsible_body_of_each_measure() -> None:
    draft = Plan.draft("er1", EMERGENCY_RESPONSE, "appeal-1", period_start=START, period_end=START)
    with pytest.raises(PlanInvalid) as caught:
        draft.add_line(line(kind="support_measure", responsible=None), agencies=AGENCIES)
    assert caught.value.field == "responsible"
    plan = draft.add_line(
        line(kind="support_measure", responsible="soc-1", due_on=START), agencies=AGENCIES
    )
    plan = plan.approve(by="head", at=NOW, agencies=AGENCIES)
    assert EMERGENCY_RESPONSE.row == "F7"
    assert plan.lines_for("soc-1")[0].kind == "support_measure"
