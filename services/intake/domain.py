"""Intake's rules: what makes a report acceptable, and when a report joins an open case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from shared.clock import ALMATY


class Relation(StrEnum):
    """How an agency comes to relate to a case, and so may see it (Rules 38874 p.33-34)."""

    REPORTER = "reporter"
    REFERRAL = "referral"
    OBLIGATION = "obligation"
    PLAN_LINE = "plan_line"
    RECIPIENT = "recipient"


# A reporter's clock may run a little ahead of ours; more than this is a wrong date.
CLOCK_SKEW = timedelta(minutes=2)

# The earliest act the platform applies: the Guide, which cites order No. 541 of 2014-12-26
# and is in force from this day (routing's catalogue, acts."Guide".effective_from). No row is
# in force before it, so a report received earlier would be sent to no one: it is refused.
EARLIEST_ACT_IN_FORCE = date(2015, 1, 1)


class InvalidReport(ValueError):
    """A report broke a rule; each problem names its field."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in problems.items()))
        self.problems = problems


def received_on(received_at: datetime, now: datetime) -> date:
    """Return the Almaty day a report was received, refusing a naive, too old or future time."""
    if received_at.tzinfo is None:
        raise InvalidReport({"received_at": "must carry a timezone offset"})
    too_old = (
        f"is before {EARLIEST_ACT_IN_FORCE.isoformat()}, when the earliest act the platform "
        "applies (the Guide) came into force: no row could be applied to it"
    )
    # Years checked first: a time at the edge of the calendar (0001, 9999) cannot be shifted
    # to another offset without overflowing.
    if received_at.year < EARLIEST_ACT_IN_FORCE.year - 1:
        raise InvalidReport({"received_at": too_old})
    if received_at.year > now.year + 1 or received_at > now + CLOCK_SKEW:
        raise InvalidReport({"received_at": "is in the future"})
    day = received_at.astimezone(ALMATY).date()
    if day < EARLIEST_ACT_IN_FORCE:
        raise InvalidReport({"received_at": too_old})
    return day


def age_on(birth_date: date, day: date) -> int:
    """Return full years of age on a day."""
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def check_birth_date(birth_date: date | None, *, kind: str, on: date) -> None:
    """Refuse a birth date after the report's day, or one that contradicts minor/adult then."""
    if birth_date is None:
        return
    if birth_date > on:
        raise InvalidReport({"subject.birth_date": "is after the day the report was received"})
    # A minor is a minor on the day the report was received (Guide p.1: a person under 18).
    adult = age_on(birth_date, on) >= 18
    if kind == "minor" and adult:
        raise InvalidReport(
            {"subject.birth_date": "a minor must be under 18 on the day the report was received"}
        )
    if kind == "adult" and not adult:
        message = "an adult must be 18 or older on the day the report was received"
        raise InvalidReport({"subject.birth_date": message})


def under_three(birth_date: date | None, on: date) -> bool:
    """Tell whether a child is aged 0-3 (Guide p.13.4: healthcare keeps such a child)."""
    return birth_date is not None and age_on(birth_date, on) < 3


@dataclass(frozen=True)
class OpenCase:
    """An open case already registered for the same person."""

    case_id: str


def case_to_join(by_iin: OpenCase | None) -> OpenCase | None:
    """Choose the open case a new report joins: only one of the same IIN.

    A name, birth date and region alone never join a case: two children may share them. Such
    a match is a candidate a person decides on (`decide_candidate`).
    """
    return by_iin


def may_be_same_person(iin_hash: str | None, other_iin_hash: str | None) -> bool:
    """Tell whether a name-and-birth-date match may be one person: two different IINs never are."""
    return iin_hash is None or other_iin_hash is None or iin_hash == other_iin_hash


class CandidateStatus(StrEnum):
    """Where a possible duplicate stands: open until the receiving body's head decides."""

    OPEN = "open"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class DuplicateDecision(StrEnum):
    """What the receiving body's head decides about a possible duplicate."""

    CONFIRM = "confirm"
    REJECT = "reject"


class IllegalDecision(Exception):
    """A possible duplicate already decided, or a case no longer open, cannot be decided."""


def decide_candidate(
    status: CandidateStatus, decision: DuplicateDecision, *, both_open: bool
) -> CandidateStatus:
    """Return a candidate's status after a decision, or raise IllegalDecision."""
    if status is not CandidateStatus.OPEN:
        raise IllegalDecision(f"the candidate is already {status.value}")
    if decision is DuplicateDecision.CONFIRM:
        if not both_open:
            raise IllegalDecision("only two open cases can be joined")
        return CandidateStatus.CONFIRMED
    return CandidateStatus.REJECTED


# --- who may see what (Rules 38874 p.33-34) ---------------------------------------------------

# The personal fields intake keeps: the subject's, and the narrative of each report.
SUBJECT_FIELDS = ("full_name", "birth_date", "iin", "sex", "address")
NARRATIVE = "narrative"

_ID = frozenset({"full_name", "birth_date", "sex"})
_ID_IIN = _ID | {"iin"}
_ALL = frozenset(SUBJECT_FIELDS) | {NARRATIVE}

# Rules 38874 p.33-34: a minor's personal data are not disclosed, and identifying data,
# photographs, addresses and school names stay confidential. So each agency type sees only
# the personal fields its part of the rules needs, and only on a case it relates to.
VISIBLE_FIELDS: dict[str, frozenset[str]] = {
    # p.15: checks for signs of an offence: identity, IIN, where the child lives, what happened.
    "police": _ALL,
    # p.12, p.17, p.21: coordinates help, visits the home, assesses the child.
    "child_rights_regional": _ALL,
    "guardianship": _ALL,
    # p.12.1: informed within an hour; oversees, does not visit.
    "child_rights_national": _ID_IIN | {NARRATIVE},
    # p.12.3, p.13: the regional commissioner goes to the scene; the national one oversees.
    "ombudsman_regional": _ID | {"address", NARRATIVE},
    "ombudsman_national": _ID | {NARRATIVE},
    # p.29: measures to protect and restore the child's rights.
    "minors_commission": _ALL,
    # Guide p.12.2-12.4: court materials on parental rights.
    "education_authority": _ALL,
    "prosecutor": _ALL,
    # p.16: registers the child (form ДСМ-175/2020) and gives medical help.
    "healthcare": _ID_IIN | {NARRATIVE},
    # p.11.2: goes to the child.
    "emergency_medical": _ID | {"address"},
    # p.12.7: psychological help to the child.
    "psych_support_centre": _ID,
    # p.12.7, Family Centre Rules p.13-15: works with the family at home.
    "family_support_centre": _ID_IIN | {"address"},
    "mobile_group": _ID | {"address"},
    # p.12.5: receives a child without parental care.
    "child_support_centre": _ID_IIN,
    # Standard 14701 p.28, Appendix 7: identifies and registers its own recipients.
    "shelter": _ID_IIN,
    "social_protection": _ID_IIN | {"address"},
    # p.14: collects and passes on the case.
    "contact_centre_111": _ID | {NARRATIVE},
    "local_executive": _ID,
    # p.10-11: the school tells parents and calls help; it knows the child, not its records.
    "education_org": _ID,
    "other": frozenset(),
}

# A reporter reads back the narrative it wrote itself (and only that one).
REPORTER_EXTRA = frozenset({NARRATIVE})

# Agency types that coordinate or check a case see every report on it; the others (a school,
# a clinic, a shelter) see only the reports they made, so one school never reads another's.
SEES_ALL_REPORTS = frozenset(
    {
        "police",
        "child_rights_regional",
        "guardianship",
        "child_rights_national",
        "ombudsman_regional",
        "ombudsman_national",
        "minors_commission",
        "education_authority",
        "prosecutor",
        "contact_centre_111",
    }
)


class AccessRefused(Exception):
    """The caller may not see this; the reason names the rule, never personal data."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def subject_fields(agency_type: str, relations: frozenset[str]) -> frozenset[str]:
    """Return the subject's fields an agency may read on a case, or refuse."""
    if not relations:
        raise AccessRefused("the agency has no report, referral, obligation or plan on the case")
    fields = VISIBLE_FIELDS.get(agency_type, frozenset()) & frozenset(SUBJECT_FIELDS)
    if not fields:
        raise AccessRefused(f"{agency_type} needs no personal data of the subject")
    return fields


def may_see_report(
    *, agency_type: str, agency_id: str, relations: frozenset[str], reporter_agency_id: str | None
) -> bool:
    """Tell whether an agency related to a case may see one of its reports."""
    if not relations:
        return False
    return agency_type in SEES_ALL_REPORTS or reporter_agency_id == agency_id


def report_fields(
    *, agency_type: str, agency_id: str, relations: frozenset[str], reporter_agency_id: str | None
) -> frozenset[str]:
    """Return the personal fields of a report an agency may read, or refuse."""
    if not may_see_report(
        agency_type=agency_type,
        agency_id=agency_id,
        relations=relations,
        reporter_agency_id=reporter_agency_id,
    ):
        raise AccessRefused("the report was made by another agency")
    fields = VISIBLE_FIELDS.get(agency_type, frozenset()) & {NARRATIVE}
    if reporter_agency_id == agency_id:
        fields |= REPORTER_EXTRA
    return frozenset(fields)
