"""A victim's stay at a shelter under Standard 14701: what may happen, in which order, on what
legal basis. Pure: no framework, no I/O; times are passed in.

A stay opens on a personal application (Appendix 4, with consent) or a referral (p.25) and runs
screened (p.13) -> identified (p.28-29, Appendix 5) -> recognised, sheet sent (p.30) -> social
protection's decision (p.31) -> contract (p.32-33) -> departure. Each step names the row of
REGULATIONS.md it carries out; a step out of order raises `IllegalStep` (answered 409) and
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from shared.contracts.vocabulary import NO_TERM, ObligationStatus

__all__ = [
    "ARRIVAL_REFERRERS",
    "CONTRAINDICATIONS",
    "CRITERIA",
    "GENERAL_SERVICES",
    "ROWS",
    "Arrival",
    "Conclusion",
    "Decision",
    "IllegalStep",
    "InvalidInput",
    "NotActor",
    "ObligationStatus",
    "Row",
    "Signature",
    "StayStatus",
    "check_sheet",
    "obligation_id",
]

ACT = "Standard 14701"


@dataclass(frozen=True)
class Row:
    """A row of REGULATIONS.md the shelter opens: its clause, term and who acts."""

    code: str
    legal_basis: str
    term: str
    actor_type: str = "shelter"


# The rows the shelter opens itself (docs/obligations.md, "How casework, shelter and the family
# centre open theirs"); S1 and S12 are routing's (a referral, a transfer to the police).
ROWS: dict[str, Row] = {
    row.code: row
    for row in (
        Row("S2", f"{ACT}, p.13, p.36", "immediate"),
        Row("S3", f"{ACT}, p.15", "immediate"),
        Row("S4", f"{ACT}, p.28-29", "working_days:1"),
        Row("S5", f"{ACT}, p.30", "working_days:1"),
        Row("S6", f"{ACT}, p.30", NO_TERM),
        Row("S7", f"{ACT}, p.31", "working_days:3", "social_protection"),
        Row("S8", f"{ACT}, p.31", "working_days:1", "social_protection"),
        Row("S9", f"{ACT}, p.32", "working_days:1"),
        Row("S10", f"{ACT}, p.33", "months:6"),
        Row("S11", f"{ACT}, p.34", "working_days:1"),
        Row("S13", f"{ACT}, p.16", "calendar_days:3"),
        Row("S14", f"{ACT}, p.17", "working_days:3"),
        Row("S15", f"{ACT}, p.19-21", "recurring:3"),
    )
}

# Who may refer a victim to a shelter: p.25 (social protection, healthcare, police) and a
# family support centre (Family Centre Rules 34499 p.24, F8).
ARRIVAL_REFERRERS = frozenset(
    {"social_protection", "healthcare", "police", "family_support_centre"}
)

# p.13: medical contraindications; a person with one is refused and referred to healthcare, and
# admitted after treatment; found during the stay, services stop (p.36).
CONTRAINDICATIONS: dict[str, str] = {
    "dangerous_mental_illness": "p.13.1",
    "infectious_disease": "p.13.2",
    "intoxication": "p.13.3",
    "terminal_stage": "p.13.4",
    "inpatient_treatment_needed": "p.13.5",
}

# p.15: the general services given before any contract.
GENERAL_SERVICES: dict[str, str] = {
    "accommodation_meals": "p.15.1",
    "first_medical_check": "p.15.2",
    "self_care_hygiene": "p.15.3",
    "bed_clothes_necessities": "p.15.4",
}

# Appendix 5 (as amended 23.08.2022 No. 325): the assessment sheet's criteria.
CRITERIA: dict[str, str] = {
    "1.1": "physical",
    "1.2": "physical",
    "1.3": "physical",
    "1.4": "physical",
    "1.5": "physical",
    "2.1": "psychological",
    "2.2": "psychological",
    "2.3": "psychological",
    "2.4": "psychological",
    "3.1": "economic",
    "3.2": "economic",
    "3.3": "economic",
    "3.4": "economic",
    "3.5": "economic",
    "4.1": "sexual",
    "4.2": "sexual",
    "4.3": "sexual",
}

# p.29 and Appendix 5: the interview is held with a police representative, a social worker and
# a psychologist; the sheet is signed by the shelter's specialists, the representative of the
# authorised body (social protection) and the police representative.
INTERVIEW_PARTICIPANTS = ("police", "social_worker", "psychologist")
SHEET_SIGNATORIES = ("shelter_specialist", "social_protection", "police")


class Arrival(StrEnum):
    """How the person came: a personal application (Appendix 4) or a referral (p.25)."""

    APPLICATION = "application"
    REFERRAL = "referral"


class StayStatus(StrEnum):
    """Where a stay stands."""

    ARRIVED = "arrived"
    REFERRED_TO_HEALTHCARE = "referred_to_healthcare"
    SCREENED = "screened"
    RECOGNISED = "recognised"
    NOT_RECOGNISED = "not_recognised"
    SHEET_SENT = "sheet_sent"
    DECIDED = "decided"
    DECISION_RECEIVED = "decision_received"
    REFUSED_BY_AUTHORITY = "refused_by_authority"
    CONTRACTED = "contracted"
    # Services are suspended while the recipient is in a healthcare institution (p.37).
    SUSPENDED = "suspended"
    STOPPED = "stopped"
    ENDED = "ended"


# A stay in one of these has ended: nothing more happens on it.
ENDED = frozenset(
    {
        StayStatus.NOT_RECOGNISED,
        StayStatus.REFUSED_BY_AUTHORITY,
        StayStatus.STOPPED,
        StayStatus.ENDED,
    }
)
# Services are being given (general services before a contract, p.15; the contract's after).
IN_SERVICE = frozenset(
    {
        StayStatus.SCREENED,
        StayStatus.RECOGNISED,
        StayStatus.SHEET_SENT,
        StayStatus.DECIDED,
        StayStatus.DECISION_RECEIVED,
        StayStatus.CONTRACTED,
        StayStatus.SUSPENDED,
    }
)


class Conclusion(StrEnum):
    """Appendix 5's conclusion."""

    RECOGNISED = "recognised"
    NOT_RECOGNISED = "not_recognised"


class Decision(StrEnum):
    """Social protection's decision on special social services (p.31)."""

    GRANTED = "granted"
    REFUSED = "refused"


class IllegalStep(Exception):
    """A step the stay's state does not allow (answered 409); nothing changed."""


class InvalidInput(ValueError):
    """Input the domain refuses, naming the field (answered 422); nothing changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotActor(PermissionError):
    """The caller's agency is not the one this step belongs to (answered 403)."""


@dataclass(frozen=True)
class Signature:
    """Who signed the sheet: a role of Appendix 5, a person id, their position, the day."""

    role: str
    person_id: str
    position: str
    signed_on: date


def obligation_id(
    case_id: str, code: str, actor: str, stay_id: str, admission: int, nth: int = 1
) -> str:
    """Return the derived id of a duty, so a replay opens nothing twice."""
    key = f"{case_id}|{code}|{actor}|{stay_id}|{admission}"
    if nth > 1:
        # A row opened again on the same stay (S10 after an extension, S14 for the next plan).
        key += f"|{nth}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qorgau:shelter:{key}"))


def require(status: StayStatus, allowed: Iterable[StayStatus], step: str) -> None:
    """Raise IllegalStep unless the stay is in one of the allowed states."""
    allowed = frozenset(allowed)
    if status not in allowed:
        names = ", ".join(sorted(s.value for s in allowed))
        raise IllegalStep(f"{step} needs the stay {names}; it is {status.value}")


def check_moment(at: datetime, *, field: str, after: datetime, now: datetime) -> None:
    """Refuse a time in the future or before what it follows."""
    if at.tzinfo is None:
        raise InvalidInput(field, "a time needs its offset, e.g. +05:00")
    if at > now:
        raise InvalidInput(field, "is in the future")
    if at < after:
        raise InvalidInput(field, "is before the step it follows")


def check_contraindications(codes: Iterable[str]) -> tuple[str, ...]:
    """Return the p.13 codes found, refusing an unknown one."""
    found = tuple(dict.fromkeys(codes))
    for code in found:
        if code not in CONTRAINDICATIONS:
            raise InvalidInput("contraindications", f"not a contraindication of p.13: {code}")
    return found


def check_general_services(items: Iterable[str]) -> tuple[str, ...]:
    """Return the p.15 items given, refusing an unknown one."""
    found = tuple(dict.fromkeys(items))
    if not found:
        raise InvalidInput("services", "name at least one general service of p.15")
    for item in found:
        if item not in GENERAL_SERVICES:
            raise InvalidInput("services", f"not a general service of p.15: {item}")
    return found


def check_sheet(
    criteria: Mapping[str, bool],
    conclusion: Conclusion,
    participants: Mapping[str, str],
    signatures: Iterable[Signature],
    *,
    interviewed_on: date,
) -> None:
    """Check an Appendix 5 sheet: known criteria, the three at the interview, three signatures."""
    for code in criteria:
        if code not in CRITERIA:
            raise InvalidInput(f"criteria.{code}", "not a criterion of Appendix 5 (1.1-4.3)")
    for role in INTERVIEW_PARTICIPANTS:
        if not participants.get(role):
            # p.29: the interview is held with the police, a social worker and a psychologist.
            raise InvalidInput(f"participants.{role}", "p.29 needs this participant")
    by_role = {signature.role: signature for signature in signatures}
    for role in SHEET_SIGNATORIES:
        signed = by_role.get(role)
        if signed is None:
            raise InvalidInput(f"signatures.{role}", "Appendix 5 needs this signature")
        if signed.signed_on < interviewed_on:
            raise InvalidInput(f"signatures.{role}.signed_on", "is before the interview")
    if conclusion is Conclusion.RECOGNISED and not any(criteria.values()):
        # Recognised "as a result of acts of domestic violence": at least one criterion holds.
        raise InvalidInput("criteria", "a recognised victim meets at least one criterion")


def met_by_identification(conclusion: Conclusion) -> tuple[StayStatus, tuple[str, ...]]:
    """Return the state after identification and the rows it opens (S5 or S6, p.30)."""
    if conclusion is Conclusion.RECOGNISED:
        return StayStatus.RECOGNISED, ("S5",)
    return StayStatus.NOT_RECOGNISED, ("S6",)


# Rows the contract opens (p.16, p.33): the contract's own term and the needs assessment.
CONTRACT_ROWS = ("S10", "S13")
# p.33: a contract runs six months; extended only while in inpatient care, by 3 months at most.
CONTRACT_MONTHS = 6
MAX_EXTENSION_MONTHS = 3


class Ground(StrEnum):
    """Why a stay ends: p.37 (expulsion with the contract broken) and p.40 (ending)."""

    REQUEST = "request"
    EXPIRED = "expired"
    FULFILLED_EARLY = "fulfilled_early"
    PLAN_FULFILLED_EARLY = "plan_fulfilled_early"
    RULES_VIOLATIONS = "rules_violations"
    ABSENCE = "absence"
    INSULTS_OR_BREACH = "insults_or_breach"


GROUND_BASIS: dict[Ground, str] = {
    Ground.REQUEST: "Standard 14701, p.40.1",
    Ground.EXPIRED: "Standard 14701, p.40.2",
    Ground.FULFILLED_EARLY: "Standard 14701, p.40.3",
    Ground.PLAN_FULFILLED_EARLY: "Standard 14701, p.40.4",
    Ground.RULES_VIOLATIONS: "Standard 14701, p.37.1",
    Ground.ABSENCE: "Standard 14701, p.37.2",
    Ground.INSULTS_OR_BREACH: "Standard 14701, p.37.3",
}
# The plan ends with the stay (p.40): its kind's ground for each ground of the stay's end.
PLAN_END_GROUND: dict[Ground, str] = {
    Ground.REQUEST: "request",
    Ground.EXPIRED: "contract_expired",
    Ground.FULFILLED_EARLY: "contract_fulfilled_early",
    Ground.PLAN_FULFILLED_EARLY: "plan_fulfilled_early",
    Ground.RULES_VIOLATIONS: "contract_broken",
    Ground.ABSENCE: "contract_broken",
    Ground.INSULTS_OR_BREACH: "contract_broken",
}
# p.37.2: an absence with a good reason the person could not report re-admits at once.
GOOD_REASONS = frozenset({"police_detention", "healthcare_institution", "crime_against_them"})
# p.39: what the shelter kept is returned on leaving.
RETURNED_ITEMS = frozenset({"clothes", "valuables", "documents"})
# p.37.2: away without notice for more than three days (72 hours).
ABSENCE_HOURS = 72
# p.37.1: the internal rules broken systematically, more than three times.
VIOLATIONS = 3


def check_ground(ground: Ground, *, violations: int | None, absent_hours: float | None) -> None:
    """Refuse an expulsion whose ground the facts do not bear out (p.37)."""
    if ground is Ground.RULES_VIOLATIONS and (violations is None or violations <= VIOLATIONS):
        raise InvalidInput("violations", "p.37.1 needs more than three recorded violations")
    if ground is Ground.ABSENCE and (absent_hours is None or absent_hours <= ABSENCE_HOURS):
        raise InvalidInput("absent_hours", "p.37.2 needs an absence of more than 72 hours")


def check_returned(items: Iterable[str]) -> tuple[str, ...]:
    """Return the p.39 items handed back, refusing an unknown one."""
    found = tuple(dict.fromkeys(items))
    for item in found:
        if item not in RETURNED_ITEMS:
            raise InvalidInput("returned", f"not an item of p.39: {item}")
    return found


def contract_end(signed_on: date, *, extension_months: int) -> date:
    """Return the contract's last day: six months from signing, plus any extension (p.33)."""
    return signed_on + relativedelta(months=CONTRACT_MONTHS + extension_months)


def check_extension(*, months: int, already: int, in_inpatient_care: bool) -> None:
    """Refuse an extension outside inpatient care or past three months in all (p.33)."""
    if not in_inpatient_care:
        raise IllegalStep("p.33 extends a contract only while the recipient is in inpatient care")
    if months < 1 or already + months > MAX_EXTENSION_MONTHS:
        raise InvalidInput("months", "p.33 extends a contract by three months at most in all")


# Appendix 3: the minimum staff of a shelter by the number of recipients (up to 20; 20-50).
# One educator per 10 children; one labour instructor per study group.
STAFF_MINIMUM: dict[str, tuple[float, float]] = {
    "director": (1, 1),
    "chief_accountant": (1, 1),
    "clerk_hr_inspector": (1, 1),
    "lawyer": (1, 2),
    "psychologist": (1, 2),
    "social_work_specialist": (1, 1.5),
    "social_work_consultant": (1, 1.5),
    "senior_nurse": (1, 2),
    "labour_instructor": (1, 1),
    "cultural_organiser": (1, 1),
}
CHILDREN_PER_EDUCATOR = 10


def staffing_minimum(recipients: int, children: int) -> dict[str, float]:
    """Return Appendix 3's minimum staff for a number of recipients and of children among them."""
    column = 0 if recipients <= 20 else 1
    needed = {position: sizes[column] for position, sizes in STAFF_MINIMUM.items()}
    # "10 балаға 1 бірлік": an educator for every ten children, where there are children.
    needed["educator"] = float(-(-children // CHILDREN_PER_EDUCATOR))
    return needed


def shortfalls(needed: Mapping[str, float], staff: Mapping[str, float]) -> dict[str, float]:
    """Return the positions staffed below the minimum, with how much is missing."""
    return {
        position: minimum - staff.get(position, 0)
        for position, minimum in needed.items()
        if staff.get(position, 0) < minimum
    }
