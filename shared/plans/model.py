"""The plan itself: versions, lines, sign-offs, consent, approval, outcomes, monitoring, end."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from shared.clock import ALMATY
from shared.plans.kinds import PlanKind, Responsible

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
    note: str | None = None  # what confirms the ground, where the kind asks for it


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

    def version(self, number: int | None = None) -> PlanVersion:
        """Return a version by its number; by default the one in force, else the draft."""
        if number is None:
            return self.in_force or self.current
        found = next((v for v in self.versions if v.number == number), None)
        if found is None:
            raise PlanInvalid("version", "is not a version of this plan")
        return found

    def lines(self, number: int | None = None) -> tuple[PlanLine, ...]:
        """Return a version's lines (by default the one in force) with their outcomes."""
        return tuple(self._with_outcome(line) for line in self.version(number).lines)

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
        if not self.kind.signs(role):
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
        # The form's dates are Almaty days (REGULATIONS.md "Time"): nothing signs after approval.
        approved_on = at.astimezone(ALMATY).date()
        if draft.consent and draft.consent.given_on and draft.consent.given_on > approved_on:
            raise PlanInvalid("consent.given_on", "is after the approval")
        for signoff in draft.signoffs:
            if signoff.signed_on > approved_on:
                raise PlanInvalid(f"signoffs.{signoff.role}", "is dated after the approval")
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
        """Return the end of the first quarter with no monitoring, or None if none is due.

        Quarterly monitoring (Standard 14701 p.21) counts every 3 months from the plan's start
        (REGULATIONS.md "Time"): each stretch needs an entry, until the plan's period ends.
        """
        version = self.in_force
        months = self.kind.monitoring_months
        if months is None or version is None or self.ending is not None:
            return None
        start = min(v.period_start for v in self.versions if v.approval is not None)
        observed = sorted(entry.observed_on for entry in self.monitoring)
        previous, n = start, 1
        while (due := start + relativedelta(months=months * n)) <= version.period_end:
            if not any(previous < day <= due for day in observed):
                return due
            previous, n = due, n + 1
        return None

    def lines_for(self, agency_id: str) -> tuple[PlanLine, ...]:
        """Return the lines an organisation is responsible for: what it may see of the plan."""
        return tuple(line for line in self.lines() if line.responsible == agency_id)

    def end(
        self,
        *,
        ground: str,
        ended_on: date,
        by: str,
        note: str | None = None,
        today: date | None = None,
    ) -> Plan:
        """End the plan on a ground its kind allows (with a note where the kind asks one)."""
        self._not_ended()
        if self.in_force is None:
            raise PlanLocked("status", "only an approved plan is ended")
        if ground not in self.kind.end_grounds:
            allowed = ", ".join(self.kind.end_grounds)
            raise PlanInvalid("ground", f"is one of {allowed}")
        if ground in self.kind.grounds_needing_note and not _text(note):
            raise PlanInvalid("note", f"say what confirms {ground!r}")
        if ended_on < self.in_force.period_start:
            raise PlanInvalid("ended_on", "is before the plan's period")
        if today is not None and ended_on > today:
            raise PlanInvalid("ended_on", "is in the future")
        if not _text(by):
            raise PlanInvalid("by", "is required")
        return replace(self, ending=Ending(ground, ended_on, by, note))

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
        if self.kind.requires_line_assigner and not _text(line.assigned_by):
            raise PlanInvalid("assigned_by", "is required", line.line_id)
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
