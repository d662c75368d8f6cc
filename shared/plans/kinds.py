"""The kinds of plan: what each service's plan allows and requires, and the clause for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from dateutil.relativedelta import relativedelta


class Responsible(StrEnum):
    """Who carries out a line of a given kind."""

    AGENCY = "agency"  # an organisation of the directory, named on the line
    PERSON = "person"  # the person (family) themself: no organisation (Family Centre p.16)
    OPTIONAL = "optional"  # an organisation may be named; the text does not require one


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
    optional_signoffs: tuple[str, ...] = ()  # roles the form gives a place to sign
    requires_line_assigner: bool = False  # each line names the specialist who assigned it
    requires_consent: bool = False  # consent, or why it could not be had
    requires_assessment_period: bool = False
    max_months: int | None = None  # the longest period from its start
    extension_months: int = 0  # a further stretch the service may allow
    end_grounds: tuple[str, ...] = ()
    grounds_needing_note: tuple[str, ...] = ()  # grounds recorded with what confirms them
    specialist_roles: tuple[str, ...] = ()  # who may be named as involved
    monitoring_months: int | None = None  # monitoring expected this often

    def signs(self, role: str) -> bool:
        """Tell whether the form gives this role a place to sign."""
        return role in self.required_signoffs or role in self.optional_signoffs

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
    grounds_needing_note=("other_confirmed",),  # p.19.4: "объективті расталған" circumstances
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
    # Appendix 1: the organisation's specialist signs the plan's review; each line names the
    # specialist who assigned it (name and signature).
    optional_signoffs=("specialist",),
    requires_line_assigner=True,
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

# Family Centre Rules 34499 p.22, row F7: on a direct threat to life or health the centre and the
# mobile group draw up an emergency response plan naming the support measures and the local
# executive and territorial bodies and organisations responsible for each. The text sets no
# approver or term; the centre's head fixes a version, and it ends when its measures are done.
EMERGENCY_RESPONSE = PlanKind(
    code="emergency_response",
    row="F7",
    legal_basis="Family Centre Rules 34499, p.22",
    line_kinds=(LineKind("support_measure", "Family Centre Rules 34499, p.22"),),
    approver="head",
    end_grounds=("fulfilled",),
)

PLAN_KINDS: Mapping[str, PlanKind] = {
    kind.code: kind
    for kind in (REHABILITATION, EDUCATION_WORK, FAMILY_WORK, SHELTER_WORK, EMERGENCY_RESPONSE)
}
