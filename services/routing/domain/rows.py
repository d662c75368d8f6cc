"""The catalogue's rows as the platform carries them out, and the facts of a case they read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.contracts.vocabulary import NO_TERM as NO_TERM

# Terms and the dates rules are in force are Kazakhstan civil dates (REGULATIONS.md, "Time").
ALMATY = ZoneInfo("Asia/Almaty")

REPORTER = "reporter"
RECEIVER = "receiver"


@dataclass(frozen=True)
class Conditions:
    """The facts a row needs: subject kind, scope letters, concerns, reporter, flags."""

    subjects: frozenset[str] = frozenset()
    scope: frozenset[str] = frozenset()
    concerns: frozenset[str] = frozenset()
    reporter_types: frozenset[str] = frozenset()
    not_reporter_types: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class TargetSpec:
    """Where a transfer row sends the case; `judgement` when a person must decide to send it."""

    agency_type: str
    judgement: bool = False


class Kind(StrEnum):
    """How a row is carried out."""

    # The case goes to another agency: the platform delivers it and records the duty met.
    TRANSFER = "transfer"
    # A person inside the acting agency must do something: an open obligation on that agency.
    ACTION = "action"


@dataclass(frozen=True)
class Row:
    """One version of one row of REGULATIONS.md as the platform carries it out."""

    code: str
    legal_basis: str
    kind: Kind
    term: str
    # "report" (the report arrives), "received" (an agency of `received_by` receives the case)
    # or "admitted" (an agency of `received_by` admits the person to a stay: F10).
    trigger: str = "report"
    received_by: str | None = None
    # "reporter", "receiver" or an agency type (the reporter acts when it is of that type).
    actor: str = REPORTER
    actor_also_reporter_types: frozenset[str] = frozenset()
    when: Conditions = Conditions()
    targets: tuple[TargetSpec, ...] = ()
    involves: str | None = None
    # The types that act with the actor (R9's visit, p.12.3): each is told, citing the row.
    joined_by: tuple[str, ...] = ()
    # A part of a row carried as its own entry, citing its own clause (G4's commission part).
    part: str = ""
    # The referral the row asks for is made only with the person's consent (Family Centre
    # Rules p.11, p.13; Standard 14701 p.25 and Appendix 4): the agency records it.
    needs_consent: bool = False
    # Where the term runs from a fact of the case rather than from when the actor learned of
    # it: "child_removed_at" (Guide p.12.2, p.12.4 run from the removal of the child).
    term_from: str | None = None
    version: int = 1
    effective_from: date = date(2000, 1, 1)
    effective_to: date | None = None
    what: str = ""

    def in_force(self, on: date) -> bool:
        """Tell whether this version of the row applies to an event on a day."""
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)


@dataclass(frozen=True)
class Rules:
    """The catalogue: rows in every version, and the directory rules the regulations name."""

    rows: tuple[Row, ...]
    # An agency type -> the types that act for it where a region has none (in order).
    stand_ins: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # An agency type -> the national body a declined or missing one escalates to.
    supervisors: Mapping[str, str] = field(default_factory=dict)
    # Who takes what nobody else is left for, in the case's region.
    last_resort: str = "prosecutor"
    national_types: frozenset[str] = frozenset()

    def in_force(self, on: date) -> list[Row]:
        """Return the version of each row in force on a day."""
        return [row for row in self.rows if row.in_force(on)]


@dataclass(frozen=True)
class CaseFacts:
    """What routing knows of a case: codes, flags and dates, never personal data."""

    case_id: str
    region: str
    subject_kind: str
    concerns: frozenset[str]
    # life_threat, needs_medical_help, offence_signs, no_parental_care, child_removed,
    # accompanying_minors (when above 0) and under_three (an age band, not a birth date).
    flags: frozenset[str]
    # When the child was removed from the parents, where a report says so.
    child_removed_at: datetime | None = None


def scope_of(concerns: Iterable[str]) -> frozenset[str]:
    """Map a report's concerns to the scope letters of Rules 38874 (V, W, B)."""
    letters = set()
    for concern in concerns:
        if concern in {"violence", "cruelty", "domestic_violence"}:
            letters.add("V")
        elif concern == "witnessed_violence":
            letters.add("W")
        elif concern == "bullying":
            letters.add("B")
    return frozenset(letters)


def local_date(moment: datetime) -> date:
    """Return the Kazakhstan civil date of a moment."""
    return moment.astimezone(ALMATY).date()


def holds(when: Conditions, case: CaseFacts, reporter_type: str) -> bool:
    """Tell whether a row's conditions hold for a case reported by an agency type."""
    if when.subjects and case.subject_kind not in when.subjects:
        return False
    if when.scope and not when.scope & scope_of(case.concerns):
        return False
    if when.concerns and not when.concerns & case.concerns:
        return False
    if when.reporter_types and reporter_type not in when.reporter_types:
        return False
    if reporter_type in when.not_reporter_types:
        return False
    return when.flags <= case.flags
