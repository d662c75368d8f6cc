"""The primary assessment of the child's situation (R19; Rules 38874 p.21, Appendix 1).

Casework keeps one `Assessment` per case: a sequence of versions. `Assessment.start` opens
version 1 as a draft; `save` replaces the draft's form (any field may still be empty);
`approve` by the head fixes it once every field Appendix 1 lists is filled (a refusal names the
first missing field in `AssessmentInvalid.field`, dotted like `needs.medical`); an approved
version is never changed: `correct` opens the next draft, copied from it, and the history stays
in `versions`. The module is pure (no framework, no I/O); times are passed in, timezone-aware.
Refusals: `AssessmentInvalid` (answer 422) and `AssessmentLocked` (answer 409).

    a = Assessment.start("a1", "case-1", at=now)
    a = a.save(AssessmentForm(child=ChildData(full_name="...", sex="female", age=9), ...), at=now)
    a = a.approve(by="head-person-id", at=now)
    a = a.correct(reason="school changed", at=later)   # version 2, a draft

The form's sections follow Appendix 1 in order: `SECTIONS` lists each with its fields, which
the documents package prints under the appendix's own labels.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime
from enum import StrEnum

from shared.clock import ALMATY


class AssessmentError(Exception):
    """A step the assessment rules refuse; `field` names the field at fault."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class AssessmentInvalid(AssessmentError):
    """Bad input or a missing field the form requires (answered 422)."""


class AssessmentLocked(AssessmentError):
    """A change to an approved version (answered 409)."""


class VersionStatus(StrEnum):
    """Where a version stands."""

    DRAFT = "draft"
    APPROVED = "approved"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class ChildData:
    """The child's data: surname, name, patronymic (if any), sex and age (Appendix 1)."""

    full_name: str | None = None
    sex: str | None = None  # "male" or "female"
    age: int | None = None


@dataclass(frozen=True)
class Assessor:
    """An employee who carried out the assessment: name and position (Appendix 1)."""

    full_name: str
    position: str
    person_id: str | None = None


@dataclass(frozen=True)
class Needs:
    """Section 3: social, legal, medical, psychological(-pedagogical) and educational needs."""

    social: str | None = None
    legal: str | None = None
    medical: str | None = None
    psychological: str | None = None
    educational: str | None = None


@dataclass(frozen=True)
class PsychPedagogicalNeeds:
    """Section 4: psychological-pedagogical needs."""

    safety: str | None = None
    social_skills: str | None = None  # social and self-care skills
    family_ties: str | None = None  # family and social ties
    emotional_behaviour: str | None = None  # emotional and behavioural development
    education: str | None = None  # education and learning


@dataclass(frozen=True)
class PsychologicalNeeds:
    """Section 5: psychological needs."""

    wellbeing: str | None = None
    past_trauma: str | None = None  # consequences of past psychological trauma
    self_esteem: str | None = None  # self-esteem, personality
    relatives: str | None = None  # relations with relatives and close ones


@dataclass(frozen=True)
class AssessmentForm:
    """What the assessors fill in, section by section, as Appendix 1 lists it."""

    child: ChildData = ChildData()
    assessors: tuple[Assessor, ...] = ()
    home_family: str | None = None  # 1. home and family situation
    relations: str | None = None  # 2. relations with relatives and friends
    needs: Needs = Needs()  # 3.
    psych_pedagogical: PsychPedagogicalNeeds = PsychPedagogicalNeeds()  # 4.
    psychological: PsychologicalNeeds = PsychologicalNeeds()  # 5.
    conclusions: str | None = None  # 6. general assessment and conclusions
    signed_on: date | None = None  # 7. the assessors' signatures: date


# Appendix 1's sections in order, each with the dotted fields it holds.
SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("child", ("child.full_name", "child.sex", "child.age")),
    ("assessors", ("assessors",)),
    ("home_family", ("home_family",)),
    ("relations", ("relations",)),
    (
        "needs",
        tuple(f"needs.{f.name}" for f in fields(Needs)),
    ),
    (
        "psych_pedagogical",
        tuple(f"psych_pedagogical.{f.name}" for f in fields(PsychPedagogicalNeeds)),
    ),
    (
        "psychological",
        tuple(f"psychological.{f.name}" for f in fields(PsychologicalNeeds)),
    ),
    ("conclusions", ("conclusions",)),
    ("signatures", ("signed_on",)),
)

REQUIRED_FIELDS: tuple[str, ...] = tuple(name for _, names in SECTIONS for name in names)

SEXES = ("male", "female")


def _value(form: AssessmentForm, dotted: str) -> object:
    value: object = form
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def missing_fields(form: AssessmentForm) -> list[str]:
    """Return the fields Appendix 1 requires that the form leaves empty, in the form's order."""
    missing = []
    for name in REQUIRED_FIELDS:
        value = _value(form, name)
        if value is None or (isinstance(value, str | tuple) and not value):
            missing.append(name)
        elif isinstance(value, str) and not value.strip():
            missing.append(name)
    return missing


def check_form(form: AssessmentForm) -> None:
    """Refuse a form whose filled fields break a rule (drafts may leave fields empty)."""
    child = form.child
    if child.sex is not None and child.sex not in SEXES:
        raise AssessmentInvalid("child.sex", f"is one of {', '.join(SEXES)}")
    if child.age is not None and not 0 <= child.age < 18:
        raise AssessmentInvalid("child.age", "a minor is 0 to 17 years old")
    for n, assessor in enumerate(form.assessors):
        if not assessor.full_name.strip():
            raise AssessmentInvalid(f"assessors[{n}].full_name", "is required")
        if not assessor.position.strip():
            raise AssessmentInvalid(f"assessors[{n}].position", "is required")


@dataclass(frozen=True)
class Approval:
    """The head's approval ("Бекітілді", with its date)."""

    by: str
    at: datetime


@dataclass(frozen=True)
class AssessmentVersion:
    """One version of the assessment; an approved one never changes."""

    number: int
    status: VersionStatus
    form: AssessmentForm
    started_at: datetime
    saved_at: datetime
    approval: Approval | None = None
    correction_reason: str | None = None


def _day(moment: datetime) -> date:
    # Dates on the form are Almaty dates (REGULATIONS.md "Time").
    return moment.astimezone(ALMATY).date()


def _aware(moment: datetime, name: str) -> None:
    if moment.tzinfo is None:
        raise AssessmentInvalid(name, "must carry a timezone offset")


@dataclass(frozen=True)
class Assessment:
    """The primary assessment of one case, with its versions."""

    assessment_id: str
    case_id: str
    versions: tuple[AssessmentVersion, ...]

    @property
    def current(self) -> AssessmentVersion:
        """Return the newest version, draft or approved."""
        return self.versions[-1]

    @property
    def approved(self) -> AssessmentVersion | None:
        """Return the newest approved version, or None."""
        found = [v for v in self.versions if v.status is VersionStatus.APPROVED]
        return found[-1] if found else None

    @classmethod
    def start(
        cls, assessment_id: str, case_id: str, *, at: datetime, form: AssessmentForm | None = None
    ) -> Assessment:
        """Open version 1 as a draft."""
        _aware(at, "started_at")
        form = form or AssessmentForm()
        check_form(form)
        version = AssessmentVersion(1, VersionStatus.DRAFT, form, started_at=at, saved_at=at)
        return cls(assessment_id=assessment_id, case_id=case_id, versions=(version,))

    def save(self, form: AssessmentForm, *, at: datetime) -> Assessment:
        """Save the draft's form as it stands; empty fields are allowed until approval."""
        draft = self._draft()
        _aware(at, "saved_at")
        check_form(form)
        if form.signed_on is not None and form.signed_on < _day(draft.started_at):
            raise AssessmentInvalid("signed_on", "is before the assessment started")
        return self._with_draft(replace(draft, form=form, saved_at=at))

    def approve(self, *, by: str, at: datetime) -> Assessment:
        """Fix the draft by the head's approval once every field Appendix 1 lists is filled."""
        draft = self._draft()
        _aware(at, "approved_at")
        if not by.strip():
            raise AssessmentInvalid("approved_by", "is required")
        check_form(draft.form)
        missing = missing_fields(draft.form)
        if missing:
            raise AssessmentInvalid(missing[0], "is required before approval")
        if at < draft.started_at:
            raise AssessmentInvalid("approved_at", "is before the assessment started")
        signed_on = draft.form.signed_on
        if signed_on is not None and signed_on > _day(at):
            raise AssessmentInvalid("signed_on", "is after the approval")
        versions = tuple(
            replace(v, status=VersionStatus.SUPERSEDED) if v.status is VersionStatus.APPROVED else v
            for v in self.versions[:-1]
        )
        approved = replace(draft, status=VersionStatus.APPROVED, approval=Approval(by, at))
        return replace(self, versions=(*versions, approved))

    def correct(self, *, reason: str, at: datetime) -> Assessment:
        """Open the next version as a draft copied from the approved one; history stays."""
        _aware(at, "corrected_at")
        if not reason.strip():
            raise AssessmentInvalid("correction_reason", "is required")
        if self.current.status is VersionStatus.DRAFT:
            raise AssessmentLocked("status", "a draft is already open: save it")
        base = self.current
        draft = AssessmentVersion(
            number=base.number + 1,
            status=VersionStatus.DRAFT,
            # The assessors sign each version afresh (Appendix 1, section 7).
            form=replace(base.form, signed_on=None),
            started_at=at,
            saved_at=at,
            correction_reason=reason,
        )
        return replace(self, versions=(*self.versions, draft))

    def _draft(self) -> AssessmentVersion:
        if self.current.status is not VersionStatus.DRAFT:
            raise AssessmentLocked(
                "status", "an approved assessment is never changed: correct it as a new version"
            )
        return self.current

    def _with_draft(self, version: AssessmentVersion) -> Assessment:
        return replace(self, versions=(*self.versions[:-1], version))
