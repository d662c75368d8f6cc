"""The primary assessment (R19, Rules 38874 Appendix 1): drafts, approval, corrections."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.casework.assessment import (
    REQUIRED_FIELDS,
    SECTIONS,
    Assessment,
    AssessmentForm,
    AssessmentInvalid,
    AssessmentLocked,
    Assessor,
    ChildData,
    Needs,
    PsychologicalNeeds,
    PsychPedagogicalNeeds,
    VersionStatus,
    missing_fields,
)

NOW = datetime(2026, 12, 1, 5, tzinfo=UTC)


def full_form() -> AssessmentForm:
    return AssessmentForm(
        child=ChildData(full_name="Child Name", sex="female", age=9),
        assessors=(Assessor("Case Manager", "chief specialist", "cm-1"),),
        home_family="home",
        relations="relations",
        needs=Needs("soc", "legal", "med", "psy", "edu"),
        psych_pedagogical=PsychPedagogicalNeeds("safe", "skills", "ties", "emo", "school"),
        psychological=PsychologicalNeeds("well", "trauma", "esteem", "relatives"),
        conclusions="conclusions",
        signed_on=date(2026, 12, 1),
    )


def test_sections_follow_appendix_1() -> None:
    assert [name for name, _ in SECTIONS] == [
        "child",
        "assessors",
        "home_family",
        "relations",
        "needs",
        "psych_pedagogical",
        "psychological",
        "conclusions",
        "signatures",
    ]
    assert "needs.educational" in REQUIRED_FIELDS
    assert "psych_pedagogical.emotional_behaviour" in REQUIRED_FIELDS
    assert "psychological.past_trauma" in REQUIRED_FIELDS
    assert missing_fields(full_form()) == []


def test_a_draft_is_saved_with_fields_empty() -> None:
    assessment = Assessment.start("a1", "case-1", at=NOW)
    form = AssessmentForm(home_family="first notes")
    saved = assessment.save(form, at=NOW)
    assert saved.current.form.home_family == "first notes"
    assert saved.current.status is VersionStatus.DRAFT
    assert assessment.current.form.home_family is None  # the original is unchanged


@pytest.mark.parametrize("missing", REQUIRED_FIELDS)
def test_approval_names_the_missing_field(missing: str) -> None:
    form = full_form()
    top, _, sub = missing.partition(".")
    if sub:
        form = replace(form, **{top: replace(getattr(form, top), **{sub: None})})
    else:
        empty: dict[str, Any] = {top: () if top == "assessors" else None}
        form = replace(form, **empty)
    assessment = Assessment.start("a1", "case-1", at=NOW).save(form, at=NOW)
    with pytest.raises(AssessmentInvalid) as caught:
        assessment.approve(by="head-1", at=NOW)
    assert caught.value.field == missing


def test_blank_text_counts_as_missing() -> None:
    form = replace(full_form(), conclusions="   ")
    assessment = Assessment.start("a1", "case-1", at=NOW, form=form)
    with pytest.raises(AssessmentInvalid, match="conclusions"):
        assessment.approve(by="head", at=NOW)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (AssessmentForm(child=ChildData(sex="x")), "child.sex"),
        (AssessmentForm(child=ChildData(age=18)), "child.age"),
        (AssessmentForm(assessors=(Assessor("", "pos"),)), "assessors[0].full_name"),
        (AssessmentForm(assessors=(Assessor("n", " "),)), "assessors[0].position"),
        (AssessmentForm(signed_on=date(2026, 11, 30)), "signed_on"),
    ],
)
def test_bad_draft_is_refused(form: AssessmentForm, field: str) -> None:
    with pytest.raises(AssessmentInvalid) as caught:
        Assessment.start("a1", "case-1", at=NOW).save(form, at=NOW)
    assert caught.value.field == field


def test_approval_fixes_the_assessment() -> None:
    assessment = Assessment.start("a1", "case-1", at=NOW).save(full_form(), at=NOW)
    approved = assessment.approve(by="head-1", at=NOW)
    assert approved.current.status is VersionStatus.APPROVED
    assert approved.approved is approved.current
    assert approved.current.approval is not None
    with pytest.raises(AssessmentLocked) as caught:
        approved.save(full_form(), at=NOW)
    assert caught.value.field == "status"
    with pytest.raises(AssessmentLocked):
        approved.approve(by="head-1", at=NOW)


def test_approval_checks_times_and_approver() -> None:
    assessment = Assessment.start("a1", "case-1", at=NOW).save(full_form(), at=NOW)
    with pytest.raises(AssessmentInvalid, match="approved_at"):
        assessment.approve(by="h", at=datetime(2026, 12, 1, 9))
    with pytest.raises(AssessmentInvalid, match="approved_by"):
        assessment.approve(by=" ", at=NOW)
    with pytest.raises(AssessmentInvalid, match="approved_at"):
        assessment.approve(by="h", at=datetime(2026, 11, 30, tzinfo=UTC))
    late_signature = replace(full_form(), signed_on=date(2026, 12, 3))
    with pytest.raises(AssessmentInvalid, match="signed_on"):
        assessment.save(late_signature, at=NOW).approve(by="h", at=NOW)


def test_a_correction_is_a_new_version() -> None:
    approved = (
        Assessment.start("a1", "case-1", at=NOW).save(full_form(), at=NOW).approve(by="h", at=NOW)
    )
    later = datetime(2026, 12, 5, 5, tzinfo=UTC)
    corrected = approved.correct(reason="new facts", at=later)
    assert [v.number for v in corrected.versions] == [1, 2]
    assert corrected.current.status is VersionStatus.DRAFT
    assert corrected.current.form == replace(approved.current.form, signed_on=None)
    assert corrected.approved is corrected.versions[0]
    corrected = corrected.save(
        replace(full_form(), conclusions="revised", signed_on=date(2026, 12, 5)), at=later
    )
    assert corrected.versions[0].form.conclusions == "conclusions"  # history kept
    final = corrected.approve(by="h", at=later)
    assert [v.status for v in final.versions] == [
        VersionStatus.SUPERSEDED,
        VersionStatus.APPROVED,
    ]
    assert final.approved is not None and final.approved.form.conclusions == "revised"
    with pytest.raises(AssessmentLocked):
        corrected.correct(reason="again", at=later)
    with pytest.raises(AssessmentInvalid, match="correction_reason"):
        final.correct(reason=" ", at=later)


def test_assessment_round_trips_through_pydantic() -> None:
    # Casework stores the assessment as JSON with pydantic (services/casework/records.py).
    from pydantic import TypeAdapter

    adapter = TypeAdapter(Assessment)
    approved = Assessment.start("a1", "c", at=NOW).save(full_form(), at=NOW).approve(by="h", at=NOW)
    assessment = approved.correct(reason="x", at=NOW)
    assert adapter.validate_json(adapter.dump_json(assessment)) == assessment
