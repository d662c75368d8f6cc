"""Routing's rules: which agencies must be told and must act, by which row and clause.

Standard library only. The catalogue is data (catalogue.py); this module reads the facts of a
report, picks the rows that apply, and resolves each target to an agency of the directory,
following the fallbacks the regulations name.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

NATIONAL = None


@dataclass(frozen=True)
class Agency:
    """An agency of the directory (a national body has no region)."""

    agency_id: str
    agency_type: str
    region: str | None
    active: bool = True


@dataclass(frozen=True)
class Target:
    """Where a row sends the case: an agency type, and the types that stand in for it."""

    agency_type: str
    fallbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Row:
    """One row of REGULATIONS.md as the platform carries it out."""

    code: str
    legal_basis: str
    scope: frozenset[str]
    targets: tuple[Target, ...]
    term: str
    reporter_types: frozenset[str] = frozenset()
    flags: frozenset[str] = frozenset()
    effective_from: date = date(2000, 1, 1)
    effective_to: date | None = None

    def in_force(self, on: date) -> bool:
        """Tell whether this version of the row applies to an event on a day."""
        return self.effective_from <= on and (self.effective_to is None or on < self.effective_to)


@dataclass(frozen=True)
class ReportFacts:
    """What routing knows of a report: codes, flags and dates, never personal data."""

    case_id: str
    report_id: str
    reporter_agency_type: str
    reporter_agency_id: str | None
    region: str
    concerns: frozenset[str]
    flags: frozenset[str]
    received_at: datetime


@dataclass(frozen=True)
class Notice:
    """A transfer the platform must make: row, target agency, term, legal basis."""

    code: str
    legal_basis: str
    target_type: str
    target: Agency
    term: str


@dataclass(frozen=True)
class Gap:
    """A transfer that found no agency: it must be escalated, never dropped."""

    code: str
    legal_basis: str
    target_type: str


@dataclass(frozen=True)
class Decision:
    """What routing decided for a report."""

    notices: tuple[Notice, ...] = ()
    gaps: tuple[Gap, ...] = field(default_factory=tuple)


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


def applies(row: Row, facts: ReportFacts) -> bool:
    """Tell whether a row applies to a report, by scope, reporter, flags and date in force."""
    if not row.in_force(facts.received_at.date()):
        return False
    if not row.scope & scope_of(facts.concerns):
        return False
    if row.reporter_types and facts.reporter_agency_type not in row.reporter_types:
        return False
    return row.flags <= facts.flags


def resolve(target: Target, region: str, directory: Sequence[Agency]) -> tuple[str, Agency] | None:
    """Find the agency for a target in a region, trying its fallbacks in order."""
    for agency_type in (target.agency_type, *target.fallbacks):
        found = sorted(
            (
                a
                for a in directory
                if a.active and a.agency_type == agency_type and a.region in (region, NATIONAL)
            ),
            # A regional agency before a national one of the same type; then a stable order.
            key=lambda a: (a.region is None, a.agency_id),
        )
        if found:
            return agency_type, found[0]
    return None


def decide(facts: ReportFacts, rows: Iterable[Row], directory: Sequence[Agency]) -> Decision:
    """Return every notice the rows require for a report, and every target left without one."""
    notices: list[Notice] = []
    gaps: list[Gap] = []
    for row in rows:
        if not applies(row, facts):
            continue
        for target in row.targets:
            hit = resolve(target, facts.region, directory)
            if hit is None:
                gaps.append(Gap(row.code, row.legal_basis, target.agency_type))
                continue
            agency_type, agency = hit
            if agency.agency_id == facts.reporter_agency_id:
                # The reporting agency already knows: it is not told about its own report.
                continue
            notices.append(Notice(row.code, row.legal_basis, agency_type, agency, row.term))
    return Decision(tuple(notices), tuple(gaps))
