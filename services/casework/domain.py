"""Casework's rules: who may record work on an obligation, with which proof, and when.

Framework-free: the handlers load rows, ask here, and store what this allows. Every rule cites
its row of REGULATIONS.md and the clause it rests on.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from shared.clock import ALMATY

# Namespace of the ids casework derives (plan-line obligations, actions over NATS).
IDS = uuid.UUID("9a6f3c0e-3f4b-4d0a-9a53-5d0c2b7e8c41")


class CaseworkError(Exception):
    """A refused request; subclasses say how it is answered."""


class InvalidInput(CaseworkError):
    """Bad input, named by field (answered 422; nothing changes)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class IllegalTransition(CaseworkError):
    """Not a legal step from the current state (answered 409)."""


class NotActor(CaseworkError):
    """The caller's agency does not owe this duty, or does not hold the case (answered 403)."""


class ObligationStatus(StrEnum):
    """Where an obligation stands, as casework knows it."""

    OPEN = "open"
    MET = "met"
    CANCELLED = "cancelled"


class ActionStatus(StrEnum):
    """A recorded action: final, or a caseworker's draft waiting for the head."""

    DRAFT = "draft"
    APPROVED = "approved"


class CaseStatus(StrEnum):
    """A case at the child-rights body: open until its head closes it (Guide p.8.10)."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Evidence:
    """The proof a row asks for: the fields an action must carry, and the clause that asks."""

    fields: tuple[str, ...]
    clause: str
    what: str


# The proof each row asks for (REGULATIONS.md; the clause names the document). Rows not listed
# need no document: the done time, the person and what was done are the record.
EVIDENCE: Mapping[str, Evidence] = {
    "R4": Evidence(
        ("notice_number", "notice_date"),
        "Rules 38874, p.11.1",
        "the notice to the parents or legal representatives: its number and date",
    ),
    "R9": Evidence(
        ("inspection_act_number", "inspection_act_date"),
        "Rules 38874, p.12.3",
        "the act of inspection of the child's living conditions: its number and date",
    ),
    "R17": Evidence(
        ("registration_form_number",),
        "Rules 38874, p.16 (form of order ДСМ-175/2020)",
        "the number of the registration form",
    ),
    "G6": Evidence(
        ("notice_number", "notice_date"),
        "Guide, p.7",
        "the report to the Committee: its number and date",
    ),
    "G8": Evidence(
        ("court_filing_number", "court_filing_date"),
        "Guide, p.12.4",
        "the claim filed with the court: its registration number and date",
    ),
    "R21": Evidence(
        ("resolution_number", "resolution_date"),
        "Rules 38874, p.29",
        "the commission's resolution on the measures: its number and date",
    ),
}

# Rows whose act is the head's: a caseworker's action is a draft until the head approves it.
HEAD_APPROVAL: Mapping[str, str] = {
    # The primary assessment is approved by the head of the body (Appendix 1, "Бекітемін").
    "R19": "Rules 38874, p.21, Appendix 1",
    # The individual plan is approved by the head (Appendix 2, "Бекітемін").
    "R20": "Rules 38874, p.22, Appendix 2",
    # The commission's measures are its resolution, signed by its chair.
    "R21": "Rules 38874, p.29",
    # Going to court is the education authority's decision (Guide p.12.4).
    "G8": "Guide, p.12.4",
}

# A date in evidence: the calendar day of the document (ISO form).
_DATE_FIELD = re.compile(r"_date$")
_DOCUMENT_VALUE = re.compile(r"^[\w./№ -]{1,60}$")


@dataclass(frozen=True)
class Duty:
    """What the rules read of an obligation casework knows."""

    obligation_id: str
    case_id: str
    code: str
    actor_agency_type: str
    actor_agency_id: str | None
    region: str | None
    target_agency_type: str | None
    started_at: datetime
    status: ObligationStatus


def check_evidence(code: str, evidence: Mapping[str, str], *, done_at: datetime) -> None:
    """Refuse an action without the proof its row asks for, or with a malformed one."""
    wanted = EVIDENCE.get(code)
    for name, value in evidence.items():
        if not _DOCUMENT_VALUE.match(value):
            raise InvalidInput(f"evidence.{name}", "a document number or ISO date, 1-60 chars")
    if wanted is None:
        return
    for name in wanted.fields:
        value = evidence.get(name, "").strip()
        if not value:
            raise InvalidInput(f"evidence.{name}", f"{code} needs {wanted.what} ({wanted.clause})")
        if _DATE_FIELD.search(name):
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(f"evidence.{name}", "a date in ISO form, YYYY-MM-DD") from None
            if day > done_at.astimezone(ALMATY).date():
                raise InvalidInput(f"evidence.{name}", "the document is dated after done_at")


def check_action(
    duty: Duty,
    *,
    agency_id: str,
    agency_type: str,
    agency_region: str | None,
    done_at: datetime,
    now: datetime,
    case_closed: bool,
) -> None:
    """Refuse work on a duty that is not the agency's, not open, or dated impossibly."""
    if not is_actor(duty, agency_id=agency_id, agency_type=agency_type, region=agency_region):
        raise NotActor(f"{duty.code} is owed by another agency, not {agency_id}")
    if case_closed:
        raise IllegalTransition("the case is closed: no further action is recorded on it")
    if duty.status is not ObligationStatus.OPEN:
        raise IllegalTransition(f"{duty.code} is {duty.status.value} already")
    if duty.target_agency_type is not None:
        # A transfer is the platform's delivery (or a referral through routing's /refer).
        raise IllegalTransition(
            f"{duty.code} is a transfer to {duty.target_agency_type}: the platform carries it "
            "out (or POST /v1/obligations/{id}/refer at routing), not an action"
        )
    if done_at > now:
        raise InvalidInput("done_at", "done_at is in the future")
    if done_at < duty.started_at:
        raise InvalidInput("done_at", "done_at is before the obligation started")


def is_actor(duty: Duty, *, agency_id: str, agency_type: str, region: str | None) -> bool:
    """Tell whether the agency owes the duty (by id, or by type and region where none is named)."""
    if duty.actor_agency_id is not None:
        return duty.actor_agency_id == agency_id
    return duty.actor_agency_type == agency_type and (duty.region in (None, region))


def action_status(code: str, *, by_head: bool, plan_line: bool = False) -> ActionStatus:
    """A caseworker's action on a row the head must approve is a draft; else it is final.

    A plan line's work is the responsible organisation's report on its line (Appendix 2,
    "date done", "result"): the head's approval of R20 is of the plan, not of each line.
    """
    if code in HEAD_APPROVAL and not by_head and not plan_line:
        return ActionStatus.DRAFT
    return ActionStatus.APPROVED


def check_approval(status: ActionStatus, duty: Duty, *, case_closed: bool) -> None:
    """Refuse approving anything but a draft on an open duty of an open case."""
    if status is not ActionStatus.DRAFT:
        raise IllegalTransition("only a draft action is approved")
    if case_closed:
        raise IllegalTransition("the case is closed: no further action is recorded on it")
    if duty.status is not ObligationStatus.OPEN:
        raise IllegalTransition(f"{duty.code} is {duty.status.value} already")


# --- the case at the child-rights body ---------------------------------------------------------

# The bodies a case reaches for casework: the regional child-rights body, or the guardianship
# body standing in where the region has none (Rules 38874 p.8, p.12).
BODY_TYPES = frozenset({"child_rights_regional"})


def is_body_arrival(*, to_agency_type: str, acting_for: str | None, purpose: str) -> bool:
    """Tell whether a referral brings the case to a body that manages it (p.12, p.21)."""
    if purpose not in ("transfer", "escalation"):
        return False
    return to_agency_type in BODY_TYPES or acting_for in BODY_TYPES


class CloseGrounds(StrEnum):
    """Why a case is closed: Guide p.8.10, and the cases where the body no longer holds it."""

    # "the causes are removed and the family's basic needs are met" (Guide p.8.10).
    CAUSES_REMOVED = "causes_removed"
    # The child came of age: the Rules apply to minors only (Rules 38874 p.1).
    CHILD_OF_AGE = "child_of_age"
    # The family moved: the case goes to the body of the new region (Rules 38874 p.12).
    MOVED = "moved_out_of_region"


CLOSE_BASIS: Mapping[CloseGrounds, str] = {
    CloseGrounds.CAUSES_REMOVED: "Guide, p.8.10",
    CloseGrounds.CHILD_OF_AGE: "Rules 38874, p.1",
    CloseGrounds.MOVED: "Rules 38874, p.12",
}


def check_close(status: CaseStatus) -> None:
    """Refuse closing a case that is closed already."""
    if status is CaseStatus.CLOSED:
        raise IllegalTransition("the case is closed already")


def check_assignment(status: CaseStatus, *, current_person: str | None, person_id: str) -> None:
    """Refuse assigning a manager to a closed case, or the manager it has."""
    if status is CaseStatus.CLOSED:
        raise IllegalTransition("the case is closed: no manager is assigned to it")
    if current_person == person_id:
        raise IllegalTransition("this person is the case manager already")


# --- plan lines for other agencies --------------------------------------------------------------

PLAN_LINE_CODE = "R20"
PLAN_LINE_BASIS = "Rules 38874, p.22, Appendix 2"


def plan_line_obligation_id(case_id: str, line_id: str, agency_id: str) -> str:
    """Derive the obligation of a plan line's agency: a replay opens nothing twice."""
    return str(uuid.uuid5(IDS, f"{case_id}|plan_line|{line_id}|{agency_id}"))


def plan_line_term(started_at: datetime, due_on: date) -> str:
    """Return the term that ends at 24:00 of the line's due date (Almaty), counted in days."""
    start_day = started_at.astimezone(ALMATY).date()
    if due_on < start_day:
        raise InvalidInput("due_date", "a plan line is due on or after the day it is assigned")
    # Counting starts the day after the trigger (shared.calendar): a line due the same day
    # gets one day, the least a calendar-day term has.
    return f"calendar_days:{max((due_on - start_day).days, 1)}"


def action_id_of(event_id: uuid.UUID) -> str:
    """Derive the id of an action an agency published over NATS (a redelivery adds nothing)."""
    return str(uuid.uuid5(IDS, f"action|{event_id}"))
