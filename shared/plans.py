"""One plan model for three services: casework, shelter and the family centre.

A plan (Rules 38874 Appendix 2; Guide p.9; Standard 14701 Appendix 1; Family Centre Rules
p.15-19) is a sequence of versions. A draft version is edited freely; the head's approval fixes
it; an approved version is never edited in place: `Plan.revise` opens the next draft, and the
history stays in `Plan.versions`. Lines are reported done or not done against the version in
force (`Plan.record_outcome`), monitoring is appended (`Plan.monitor`), and a plan ends on a
ground its kind allows (`Plan.end`).

Each service picks its kind: `REHABILITATION` (casework, R20), `EDUCATION_WORK` (the Guide's
plan, p.9), `FAMILY_WORK` (family centre, F5) and `SHELTER_WORK` (shelter, S14). The model is
pure: no framework, no I/O; dates and times are passed in, and responsible organisations are
checked against whatever the caller passes as `agencies` (a set of agency ids of the routing
directory, or a callable that answers for one id). Every method returns a new `Plan` and leaves
the old one as it was; a refusal raises `PlanInvalid` (answer 422) or `PlanLocked` (answer
409), both naming the field in `.field` (and `.line_id` for a line's field).

    plan = Plan.draft("p1", REHABILITATION, "case-1", period_start=d1, period_end=d2)
    plan = plan.add_line(PlanLine("l1", "psychological", "sessions", d1, d3,
                                  responsible="psc-almaty-1"), agencies={"psc-almaty-1"})
    plan = plan.record_consent(Consent(name="...", given_on=d1))
    plan = plan.approve(by="head-person-id", at=now, agencies=directory_ids)
    plan = plan.record_outcome("l1", LineStatus.DONE, done_on=d4, result="...", today=d4)
    plan = plan.revise(reason="state changed", at=now)   # version 2, a draft
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from dateutil.relativedelta import relativedelta

AgencyCheck = Callable[[str], bool] | Collection[str]


class PlanError(Exception):
    """A step the plan rules refuse; `field` names the field at fault."""

    def __init__(self, field_name: str, message: str, line_id: str | None = None) -> None:
        where = f"lines[{line_id}].{field_name}" if line_id else field_name
        super().__init__(f"{where}: {message}")
        self.field = field_name
        self.line_id = line_id
        self.message = message


class PlanInvalid(PlanError):
    """Bad input: a field breaks a rule of the plan's kind (answered 422)."""


class PlanLocked(PlanError):
    """An illegal change of state: editing an approved or ended version (answered 409)."""


class Responsible(StrEnum):
    """Who carries out a line of a given kind."""

    AGENCY = "agency"  # an organisation of the directory, named on the line
    PERSON = "person"  # the person (family) themself: no organisation (Family Centre p.16)
    OPTIONAL = "optional"  # an organisation may be named; the text does not require one


class LineStatus(StrEnum):
    """Where a line stands."""

    OPEN = "open"
    DONE = "done"
    NOT_DONE = "not_done"


class VersionStatus(StrEnum):
    """Where a version stands."""

    DRAFT = "draft"
    APPROVED = "approved"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class LineKind:
    """A kind of line a plan kind allows, with who carries it out."""

    code: str
    clause: str
    responsible: Responsible = Responsible.AGENCY


@dataclass(frozen=True)
class PlanKind:
    """What a service's plan allows and requires, with its legal basis."""

    code: str
    row: str  # the row of REGULATIONS.md, or "" where the text makes none
    legal_basis: str
    line_kinds: tuple[LineKind, ...]
    approver: str  # the role whose approval fixes a version
    required_signoffs: tuple[str, ...] = ()  # roles that sign before the approval
    requires_consent: bool = False  # consent, or why it could not be had
    requires_assessment_period: bool = False
    max_months: int | None = None  # the longest period from its start
    extension_months: int = 0  # a further stretch the service may allow
    end_grounds: tuple[str, ...] = ()
    specialist_roles: tuple[str, ...] = ()  # who may be named as involved
    monitoring_months: int | None = None  # monitoring expected this often

    def line_kind(self, code: str) -> LineKind | None:
        """Return the line kind of this code, or None."""
        return next((kind for kind in self.line_kinds if kind.code == code), None)

    def latest_end(self, start: date, *, extended: bool = False) -> date | None:
        """Return the last day a plan starting on start may run to, or None if unbounded."""
        if self.max_months is None:
            return None
        months = self.max_months + (self.extension_months if extended else 0)
        return start + relativedelta(months=months)


# Rules 38874 p.22-28, Appendix 2: the individual rehabilitation plan (ОЖЖ), row R20. Help of
# p.23; the head of the child-rights body (or the guardianship body) signs; the parent's or
# legal representative's consent, or why it could not be had. The text sets no duration.
REHABILITATION = PlanKind(
    code="rehabilitation",
    row="R20",
    legal_basis="Rules 38874, p.22-28, Appendix 2",
    line_kinds=(
        LineKind("medical", "Rules 38874, p.23.1, p.24"),
        LineKind("psychological", "Rules 38874, p.23.2, p.25"),
        LineKind("pedagogical", "Rules 38874, p.23.3, p.26"),
        LineKind("social", "Rules 38874, p.23.4, p.27"),
        LineKind("legal", "Rules 38874, p.23.5, p.28"),
    ),
    approver="head",
    requires_consent=True,
    requires_assessment_period=True,
    # The text lists no ground; the plan ends with the case, closed under Guide p.8.10.
    end_grounds=("case_closed",),
)

# Guide p.8.2 and p.9: the education organisation's individual work plan. The Guide names no
# approver or term; the head of the education organisation fixes a version.
EDUCATION_WORK = PlanKind(
    code="education_work",
    row="",
    legal_basis="Guide, p.8.2, p.9",
    line_kinds=(
        LineKind("work_with_family", "Guide, p.9.1", Responsible.OPTIONAL),
        LineKind("work_with_child", "Guide, p.9.2", Responsible.OPTIONAL),
    ),
    approver="head",
    end_grounds=("case_closed",),  # Guide p.8.10
)

# Family Centre Rules 34499 p.15-19, row F5: at most one year from the needs (p.15, as amended
# 16.04.2026 No. 187); lines by type of state support with the state body responsible and by
# the person's own steps, each with a term (p.16); signed by the centre's employee and the
# person, approved by the head (p.17); ends on the grounds of p.19.
FAMILY_WORK = PlanKind(
    code="family_work",
    row="F5",
    legal_basis="Family Centre Rules 34499, p.15-17",
    line_kinds=(
        LineKind("state_support", "Family Centre Rules 34499, p.16"),
        LineKind("own_steps", "Family Centre Rules 34499, p.16", Responsible.PERSON),
    ),
    approver="head",
    required_signoffs=("employee", "person"),
    max_months=12,
    end_grounds=("fulfilled", "refused", "not_carried_out", "other_confirmed"),  # p.19.1-4
    specialist_roles=(
        "lawyer",
        "psychologist",
        "social_pedagogue",
        "medic",
        "social_worker",
        "local_police",
        "ngo",
    ),
)

# Standard 14701 p.17-24, Appendices 1-2, row S14: the work plan (ЖЖЖ) for the contract term
# (6 months, p.33; extended by at most 3 months while in inpatient care), approved by the head
# (p.17); lines by the eight kinds of p.24, each assigned and signed by a specialist (Appendix
# 1); monitored quarterly by the social work specialist (p.21); ends as services end (p.40).
SHELTER_WORK = PlanKind(
    code="shelter_work",
    row="S14",
    legal_basis="Standard 14701, p.17-24, Appendix 1",
    line_kinds=tuple(
        LineKind(code, f"Standard 14701, p.24.{n}", Responsible.OPTIONAL)
        for n, code in enumerate(
            (
                "social_household",
                "social_medical",
                "social_psychological",
                "social_pedagogical",
                "social_labour",
                "social_cultural",
                "social_economic",
                "social_legal",
            ),
            start=1,
        )
    ),
    approver="head",
    requires_assessment_period=True,  # Appendix 1: observed from ... to ...
    max_months=6,
    extension_months=3,
    # p.40.1-4: a written request; the contract broken or expired; the contract's terms or
    # the plan's activities fulfilled early.
    end_grounds=(
        "request",
        "contract_broken",
        "contract_expired",
        "contract_fulfilled_early",
        "plan_fulfilled_early",
    ),
    monitoring_months=3,
)

PLAN_KINDS: Mapping[str, PlanKind] = {
    kind.code: kind for kind in (REHABILITATION, EDUCATION_WORK, FAMILY_WORK, SHELTER_WORK)
}


@dataclass(frozen=True)
class PlanLine:
    """One activity: what, when assigned, due and done, by which organisation, with what result."""

    line_id: str
    kind: str
    activity: str
    assigned_on: date
    due_on: date
    responsible: str | None = None  # an agency id of the directory
    assigned_by: str | None = None  # the specialist's person id (Standard 14701 Appendix 1)
    done_on: date | None = None
    result: str | None = None
    status: LineStatus = LineStatus.OPEN


@dataclass(frozen=True)
class SignOff:
    """A signature: who (a person id, or a name for the person helped) and on which day."""

    role: str
    signer: str
    signed_on: date


@dataclass(frozen=True)
class Consent:
    """The parent's or legal representative's consent, or why it could not be had."""

    name: str | None = None
    given_on: date | None = None
    not_obtained_reason: str | None = None


@dataclass(frozen=True)
class Approval:
    """The head's approval that fixed a version."""

    by: str
    at: datetime


@dataclass(frozen=True)
class PlanVersion:
    """One version of a plan; approved versions never change."""

    number: int
    status: VersionStatus
    period_start: date
    period_end: date
    lines: tuple[PlanLine, ...] = ()
    assessed_from: date | None = None
    assessed_to: date | None = None
    remarks: str | None = None
    specialists: tuple[str, ...] = ()
    signoffs: tuple[SignOff, ...] = ()
    consent: Consent | None = None
    approval: Approval | None = None
    revision_reason: str | None = None
    extended: bool = False  # the kind's extension applies (Standard 14701 p.33)

    def line(self, line_id: str) -> PlanLine | None:
        """Return the line of this id, or None."""
        return next((line for line in self.lines if line.line_id == line_id), None)


@dataclass(frozen=True)
class MonitoringEntry:
    """A monitoring note on the plan in force (Standard 14701 p.19-21, Appendix 2)."""

    observed_on: date
    by: str
    state: str  # "positive", "negative" or "no_change"
    note: str = ""
    corrections: tuple[str, ...] = ()  # line kinds to revise


@dataclass(frozen=True)
class Outcome:
    """What the responsible organisation reported for a line."""

    status: LineStatus
    done_on: date | None
    result: str | None
    reported_by: str | None = None


@dataclass(frozen=True)
class Ending:
    """Why and when the plan stopped."""

    ground: str
    ended_on: date
    by: str


MONITORING_STATES = ("positive", "negative", "no_change")

DRAFT_FIELDS = frozenset(
    {"period_start", "period_end", "assessed_from", "assessed_to", "remarks", "specialists"}
)


def _is_agency(agencies: AgencyCheck, agency_id: str) -> bool:
    if callable(agencies):
        return bool(agencies(agency_id))
    return agency_id in agencies


def _text(value: str | None) -> bool:
    return value is not None and value.strip() != ""


@dataclass(frozen=True)
class Plan:
    """A plan of one kind for one subject (a case, a recipient, a person), with its history."""

    plan_id: str
    kind: PlanKind
    subject_id: str
    versions: tuple[PlanVersion, ...]
    outcomes: Mapping[str, Outcome] = field(default_factory=dict)
    monitoring: tuple[MonitoringEntry, ...] = ()
    ending: Ending | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def current(self) -> PlanVersion:
        """Return the newest version, draft or approved."""
        return self.versions[-1]

    @property
    def in_force(self) -> PlanVersion | None:
        """Return the newest approved version, or None before the first approval."""
        approved = [v for v in self.versions if v.status is VersionStatus.APPROVED]
        return approved[-1] if approved else None

    def lines(self) -> tuple[PlanLine, ...]:
        """Return the lines of the version in force (else the draft) with their outcomes."""
        version = self.in_force or self.current
        return tuple(self._with_outcome(line) for line in version.lines)

    def _with_outcome(self, line: PlanLine) -> PlanLine:
        outcome = self.outcomes.get(line.line_id)
        if outcome is None:
            return line
        return replace(line, status=outcome.status, done_on=outcome.done_on, result=outcome.result)

    # -- drafting --------------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        plan_id: str,
        kind: PlanKind,
        subject_id: str,
        *,
        period_start: date,
        period_end: date,
        assessed_from: date | None = None,
        assessed_to: date | None = None,
        remarks: str | None = None,
        specialists: tuple[str, ...] = (),
    ) -> Plan:
        """Start a plan: version 1, a draft with no lines."""
        version = PlanVersion(
            number=1,
            status=VersionStatus.DRAFT,
            period_start=period_start,
            period_end=period_end,
            assessed_from=assessed_from,
            assessed_to=assessed_to,
            remarks=remarks,
            specialists=tuple(specialists),
        )
        plan = cls(plan_id=plan_id, kind=kind, subject_id=subject_id, versions=(version,))
        plan._check_period(version)
        return plan

    def edit(self, **changes: object) -> Plan:
        """Change the draft's period, assessment period, remarks or specialists."""
        unknown = set(changes) - DRAFT_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise PlanInvalid(name, "is not a field of a plan that can be edited")
        draft = self._draft()
        if "specialists" in changes:
            changes["specialists"] = tuple(changes["specialists"])  # type: ignore[arg-type]
        version = replace(draft, **changes)  # type: ignore[arg-type]
        self._check_period(version)
        for line in version.lines:
            self._check_due(version, line)
        return self._with_draft(version)

    def add_line(self, line: PlanLine, *, agencies: AgencyCheck) -> Plan:
        """Add a line to the draft, checking its kind, organisation and dates."""
        draft = self._draft()
        if draft.line(line.line_id) is not None:
            raise PlanInvalid("line_id", "is already a line of this plan", line.line_id)
        self._check_line(draft, line, agencies)
        return self._with_draft(replace(draft, lines=(*draft.lines, line)))

    def replace_line(self, line: PlanLine, *, agencies: AgencyCheck) -> Plan:
        """Replace a line of the draft by its id."""
        draft = self._draft()
        if draft.line(line.line_id) is None:
            raise PlanInvalid("line_id", "is not a line of this plan", line.line_id)
        self._check_line(draft, line, agencies)
        lines = tuple(line if old.line_id == line.line_id else old for old in draft.lines)
        return self._with_draft(replace(draft, lines=lines))

    def remove_line(self, line_id: str) -> Plan:
        """Remove a line from the draft."""
        draft = self._draft()
        if draft.line(line_id) is None:
            raise PlanInvalid("line_id", "is not a line of this plan", line_id)
        if line_id in self.outcomes:
            raise PlanLocked("line_id", "has a reported outcome and stays in the plan", line_id)
        lines = tuple(line for line in draft.lines if line.line_id != line_id)
        return self._with_draft(replace(draft, lines=lines))

    def sign(self, role: str, signer: str, signed_on: date) -> Plan:
        """Record a sign-off the kind asks for on the draft."""
        draft = self._draft()
        if role not in self.kind.required_signoffs:
            raise PlanInvalid("role", f"{self.kind.code} plans are not signed by {role!r}")
        if not _text(signer):
            raise PlanInvalid("signer", "is required")
        others = tuple(s for s in draft.signoffs if s.role != role)
        return self._with_draft(
            replace(draft, signoffs=(*others, SignOff(role, signer, signed_on)))
        )

    def record_consent(self, consent: Consent) -> Plan:
        """Record the parent's or representative's consent, or why it could not be had."""
        draft = self._draft()
        if not self.kind.requires_consent:
            raise PlanInvalid("consent", f"{self.kind.code} plans take no consent")
        self._check_consent(consent)
        return self._with_draft(replace(draft, consent=consent))

    def approve(self, *, by: str, at: datetime, agencies: AgencyCheck) -> Plan:
        """Fix the draft by the head's approval, once every field the form needs is there."""
        draft = self._draft()
        if at.tzinfo is None:
            raise PlanInvalid("approved_at", "must carry a timezone offset")
        if not _text(by):
            raise PlanInvalid("approved_by", "is required")
        self._check_period(draft)
        if self.kind.requires_assessment_period:
            if draft.assessed_from is None:
                raise PlanInvalid("assessed_from", "is required before approval")
            if draft.assessed_to is None:
                raise PlanInvalid("assessed_to", "is required before approval")
        if not draft.lines:
            raise PlanInvalid("lines", "a plan needs at least one line before approval")
        for line in draft.lines:
            self._check_line(draft, line, agencies)
        if self.kind.requires_consent:
            if draft.consent is None:
                raise PlanInvalid("consent", "the consent, or why it could not be had, is required")
            self._check_consent(draft.consent)
        signed = {s.role for s in draft.signoffs}
        for role in self.kind.required_signoffs:
            if role not in signed:
                raise PlanInvalid(f"signoffs.{role}", "must sign before the head approves")
        versions = tuple(
            replace(v, status=VersionStatus.SUPERSEDED) if v.status is VersionStatus.APPROVED else v
            for v in self.versions[:-1]
        )
        approved = replace(draft, status=VersionStatus.APPROVED, approval=Approval(by, at))
        return replace(self, versions=(*versions, approved))

    def revise(self, *, reason: str, at: datetime) -> Plan:
        """Open the next version as a draft copied from the one in force; history stays."""
        self._not_ended()
        if at.tzinfo is None:
            raise PlanInvalid("revised_at", "must carry a timezone offset")
        if not _text(reason):
            raise PlanInvalid("revision_reason", "is required")
        if self.current.status is VersionStatus.DRAFT:
            raise PlanLocked("status", "a draft is already open: edit it")
        base = self.current
        draft = replace(
            base,
            number=base.number + 1,
            status=VersionStatus.DRAFT,
            signoffs=(),
            approval=None,
            consent=None if self.kind.requires_consent else base.consent,
            revision_reason=reason,
        )
        return replace(self, versions=(*self.versions, draft))

    def extend(self, *, period_end: date) -> Plan:
        """Move the draft's end into the kind's extension (Standard 14701 p.33)."""
        draft = self._draft()
        if not self.kind.extension_months:
            raise PlanInvalid("period_end", f"{self.kind.code} plans have no extension")
        version = replace(draft, period_end=period_end, extended=True)
        self._check_period(version)
        return self._with_draft(version)

    # -- carrying out ----------------------------------------------------------------------

    def record_outcome(
        self,
        line_id: str,
        status: LineStatus,
        *,
        done_on: date | None,
        result: str | None,
        today: date,
        reported_by: str | None = None,
    ) -> Plan:
        """Record a line of the version in force done or not done."""
        self._not_ended()
        version = self.in_force
        if version is None:
            raise PlanLocked("status", "the plan is not approved yet")
        line = version.line(line_id)
        if line is None:
            raise PlanInvalid("line_id", "is not a line of the plan in force", line_id)
        if status is LineStatus.OPEN:
            raise PlanInvalid("status", "an outcome is done or not_done", line_id)
        if line_id in self.outcomes:
            raise PlanLocked("status", "the line's outcome is already recorded", line_id)
        if status is LineStatus.DONE:
            if done_on is None:
                raise PlanInvalid("done_on", "is required for a line done", line_id)
            if done_on < line.assigned_on:
                raise PlanInvalid("done_on", "is before the date assigned", line_id)
            if done_on > today:
                raise PlanInvalid("done_on", "is in the future", line_id)
        elif done_on is not None:
            raise PlanInvalid("done_on", "a line not done has no done date", line_id)
        if status is LineStatus.NOT_DONE and not _text(result):
            raise PlanInvalid("result", "say why the line was not done", line_id)
        outcomes = {**self.outcomes, line_id: Outcome(status, done_on, result, reported_by)}
        return replace(self, outcomes=outcomes)

    def monitor(self, entry: MonitoringEntry, *, today: date) -> Plan:
        """Append a monitoring entry to the plan in force."""
        self._not_ended()
        if self.in_force is None:
            raise PlanLocked("status", "only an approved plan is monitored")
        if entry.state not in MONITORING_STATES:
            raise PlanInvalid("state", f"is one of {', '.join(MONITORING_STATES)}")
        if entry.observed_on > today:
            raise PlanInvalid("observed_on", "is in the future")
        if entry.observed_on < self.in_force.period_start:
            raise PlanInvalid("observed_on", "is before the plan's period")
        if not _text(entry.by):
            raise PlanInvalid("by", "is required")
        for code in entry.corrections:
            if self.kind.line_kind(code) is None:
                raise PlanInvalid("corrections", f"{code!r} is not a kind of line of this plan")
        return replace(self, monitoring=(*self.monitoring, entry))

    def monitoring_due(self) -> date | None:
        """Return when the next monitoring is expected, or None if the kind sets no rhythm."""
        version = self.in_force
        if self.kind.monitoring_months is None or version is None or self.ending is not None:
            return None
        last = max((e.observed_on for e in self.monitoring), default=version.period_start)
        return last + relativedelta(months=self.kind.monitoring_months)

    def end(self, *, ground: str, ended_on: date, by: str) -> Plan:
        """End the plan on a ground its kind allows."""
        self._not_ended()
        if self.in_force is None:
            raise PlanLocked("status", "only an approved plan is ended")
        if ground not in self.kind.end_grounds:
            allowed = ", ".join(self.kind.end_grounds)
            raise PlanInvalid("ground", f"is one of {allowed}")
        if ended_on < self.in_force.period_start:
            raise PlanInvalid("ended_on", "is before the plan's period")
        if not _text(by):
            raise PlanInvalid("by", "is required")
        return replace(self, ending=Ending(ground, ended_on, by))

    # -- rules -----------------------------------------------------------------------------

    def _not_ended(self) -> None:
        if self.ending is not None:
            raise PlanLocked("status", "the plan has ended")

    def _draft(self) -> PlanVersion:
        self._not_ended()
        if self.current.status is not VersionStatus.DRAFT:
            raise PlanLocked(
                "status", "an approved version is never edited in place: revise the plan"
            )
        return self.current

    def _with_draft(self, version: PlanVersion) -> Plan:
        return replace(self, versions=(*self.versions[:-1], version))

    def _check_period(self, version: PlanVersion) -> None:
        if version.period_end < version.period_start:
            raise PlanInvalid("period_end", "is before the period's start")
        latest = self.kind.latest_end(version.period_start, extended=version.extended)
        if latest is not None and version.period_end > latest:
            raise PlanInvalid(
                "period_end",
                f"is past the longest period of a {self.kind.code} plan "
                f"({latest.isoformat()}, {self.kind.legal_basis})",
            )
        if version.assessed_from and version.assessed_to:
            if version.assessed_to < version.assessed_from:
                raise PlanInvalid("assessed_to", "is before assessed_from")
        for role in version.specialists:
            if role not in self.kind.specialist_roles:
                raise PlanInvalid("specialists", f"{role!r} is not a specialist of this kind")

    def _check_due(self, version: PlanVersion, line: PlanLine) -> None:
        if line.due_on < line.assigned_on:
            raise PlanInvalid("due_on", "is before the date assigned", line.line_id)
        latest = self.kind.latest_end(version.period_start, extended=version.extended)
        if latest is not None and line.due_on > latest:
            raise PlanInvalid(
                "due_on",
                f"is past the longest period of the plan ({latest.isoformat()})",
                line.line_id,
            )
        if line.due_on > version.period_end:
            raise PlanInvalid("due_on", "is after the plan's period", line.line_id)

    def _check_line(self, version: PlanVersion, line: PlanLine, agencies: AgencyCheck) -> None:
        kind = self.kind.line_kind(line.kind)
        if kind is None:
            allowed = ", ".join(k.code for k in self.kind.line_kinds)
            raise PlanInvalid("kind", f"is one of {allowed}", line.line_id)
        if not _text(line.line_id):
            raise PlanInvalid("line_id", "is required")
        if not _text(line.activity):
            raise PlanInvalid("activity", "is required", line.line_id)
        if line.status is not LineStatus.OPEN or line.done_on or line.result:
            raise PlanInvalid("status", "outcomes are recorded on the plan in force", line.line_id)
        if kind.responsible is Responsible.PERSON:
            if line.responsible is not None:
                raise PlanInvalid(
                    "responsible", "the person's own steps name no organisation", line.line_id
                )
        elif line.responsible is None:
            if kind.responsible is Responsible.AGENCY:
                raise PlanInvalid("responsible", "is required", line.line_id)
        elif not _is_agency(agencies, line.responsible):
            raise PlanInvalid(
                "responsible", "is not an organisation of the directory", line.line_id
            )
        self._check_due(version, line)

    def _check_consent(self, consent: Consent) -> None:
        if _text(consent.not_obtained_reason):
            if consent.name or consent.given_on:
                raise PlanInvalid(
                    "consent", "either the consent or why it could not be had, not both"
                )
            return
        if not _text(consent.name):
            raise PlanInvalid("consent.name", "is required, or why consent could not be had")
        if consent.given_on is None:
            raise PlanInvalid("consent.given_on", "is required")
