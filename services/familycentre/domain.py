"""The family support centre's rules (Family Centre Rules 34499, rows F1-F10), framework-free.

Appeals come through the five channels of p.12; a person who comes themself is interviewed
with their consent to personal-data processing (p.13: help is voluntary, p.11). Every appeal
gets a first response within one working day (p.13.1, p.14.1: a consultation and/or a redirect
to the right organisation) and a primary assessment within three working days, or within one
with emergency response measures when life or health is threatened (p.13.2, p.14.2); those
found in a difficult life situation have their needs determined (p.13.3, p.14.3) for an
individual work plan (p.15-19). Mobile groups are approved by the akim's order for one calendar
year (p.21) and engaged on a direct threat (p.22). A temporary stay lasts at most one month
(p.6.4, p.23.5, p.25); a person with minor children is admitted with them (p.26).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from shared.clock import ALMATY

CENTRE = "family_support_centre"
ACT = "Family Centre Rules 34499"
IDS = uuid.UUID("0f5c2a77-3f55-4b8e-9a0e-5d1f1c7c0a34")


class InvalidInput(ValueError):
    """Input the rules refuse (answered 422, naming the field); nothing changes."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class IllegalTransition(RuntimeError):
    """A step the appeal's or stay's state does not allow (answered 409); nothing changes."""


class NotActor(PermissionError):
    """The caller's agency may not take this step (answered 403)."""


class Channel(StrEnum):
    """The five channels of p.12."""

    PERSON = "person"  # p.12.1: the person (family) appeals themself
    CONTACT_CENTRE_111 = "contact_centre_111"  # p.12.2: the "111" contact centre
    STATE_SYSTEMS = "state_information_systems"  # p.12.3: data of state information systems
    BODY_OR_PERSON = "body_or_person"  # p.12.4: bodies, organisations, persons
    MEDIA = "media"  # p.12.5: media and social networks


_CHANNEL_POINT = {
    Channel.PERSON: 1,
    Channel.CONTACT_CENTRE_111: 2,
    Channel.STATE_SYSTEMS: 3,
    Channel.BODY_OR_PERSON: 4,
    Channel.MEDIA: 5,
}


def procedure_point(channel: Channel) -> int:
    """Return the point that sets the procedure: p.13 for the person themself, else p.14."""
    return 13 if channel is Channel.PERSON else 14


@dataclass(frozen=True)
class RowSpec:
    """An obligation the centre opens: its row, clause and term (shared.calendar compact form)."""

    code: str
    legal_basis: str
    term: str


def f1(channel: Channel) -> RowSpec:
    """F1: record the appeal on receipt (p.12.n; the interview with consent, p.13)."""
    point = _CHANNEL_POINT[channel]
    extra = ", p.13" if channel is Channel.PERSON else ""
    return RowSpec("F1", f"{ACT}, p.12.{point}{extra}", "immediate")


def f2(channel: Channel) -> RowSpec:
    """F2: a consultation and/or a redirect to the right organisation within 1 working day."""
    return RowSpec("F2", f"{ACT}, p.{procedure_point(channel)}.1", "working_days:1")


def f3(channel: Channel, *, threat_to_life: bool) -> RowSpec:
    """F3: the primary assessment, 3 working days; 1 with emergency measures on a threat."""
    term = "working_days:1" if threat_to_life else "working_days:3"
    return RowSpec("F3", f"{ACT}, p.{procedure_point(channel)}.2", term)


def f4(channel: Channel) -> RowSpec:
    """F4: the needs of a person in a difficult life situation, for the plan (no term set)."""
    return RowSpec("F4", f"{ACT}, p.{procedure_point(channel)}.3", "none")


# p.15 (as amended 16.04.2026 No. 187): the plan is drawn up after the needs, for at most a year.
F5 = RowSpec("F5", f"{ACT}, p.15-17", "months:12")
# p.19: the plan's activities stop on one of four grounds; the text sets no term.
F6 = RowSpec("F6", f"{ACT}, p.19", "none")
# p.22: on information about a direct threat the mobile group is engaged at once.
F7 = RowSpec("F7", f"{ACT}, p.22", "immediate")
# p.24: referral to a shelter for identification within two working days (with consent, p.11).
F8 = RowSpec("F8", f"{ACT}, p.24", "working_days:2")
# p.23.5, p.25: a temporary stay of at most one month.
F9 = RowSpec("F9", f"{ACT}, p.23.5, p.25", "months:1")
PLAN_LINE_BASIS = f"{ACT}, p.16"
MEASURE_BASIS = f"{ACT}, p.22"


def obligation_id(case_id: str, code: str, agency_id: str, detail: str = "") -> str:
    """Derive an obligation's id from its case, row and actor, so a replay opens nothing twice."""
    return str(uuid.uuid5(IDS, f"{case_id}|{code}|{agency_id}|{detail}"))


def derived_id(*parts: str) -> str:
    """Derive a stable id from its parts (deliveries, plans of an appeal)."""
    return str(uuid.uuid5(IDS, "|".join(parts)))


def local_day(moment: datetime) -> date:
    """Return the Almaty day of a moment (REGULATIONS.md "Time")."""
    return moment.astimezone(ALMATY).date()


# --- appeals ---------------------------------------------------------------------------------


def check_appeal(
    channel: Channel, *, consent_given_on: date | None, received_at: datetime, now: datetime
) -> None:
    """Refuse an appeal the rules do not allow: an interview needs the person's consent (p.13)."""
    if received_at.tzinfo is None:
        raise InvalidInput("received_at", "must carry a timezone offset")
    if received_at > now:
        raise InvalidInput("received_at", "is in the future")
    if channel is Channel.PERSON:
        # p.13: "дербес деректерді жинауға және өңдеуге келісімімен"; p.11: help is voluntary.
        if consent_given_on is None:
            raise InvalidInput("consent", "a personal interview needs consent to data processing")
        if consent_given_on > local_day(now):
            raise InvalidInput("consent.given_on", "is in the future")


class Stage(StrEnum):
    """Where an appeal stands."""

    RECEIVED = "received"
    ASSESSED = "assessed"
    NEEDS_DETERMINED = "needs_determined"
    CLOSED = "closed"


class ResponseKind(StrEnum):
    """The first response of p.13.1/p.14.1: a consultation and/or a redirect ("және/немесе")."""

    CONSULTATION = "consultation"
    REDIRECT = "redirect"
    BOTH = "consultation_and_redirect"


def check_first_response(
    kind: ResponseKind,
    redirect_to: str | None,
    *,
    responded: bool,
    done_at: datetime,
    since: datetime,
) -> None:
    """Refuse a second first response, a redirect with no organisation, a time before the appeal."""
    if responded:
        raise IllegalTransition("the first response is already recorded (F2)")
    if kind is ResponseKind.CONSULTATION and redirect_to is not None:
        raise InvalidInput("redirect_to_agency_id", "a consultation alone redirects nowhere")
    if kind is not ResponseKind.CONSULTATION and redirect_to is None:
        raise InvalidInput("redirect_to_agency_id", "a redirect names the organisation")
    _check_done(done_at, since)


def _check_done(done_at: datetime, since: datetime) -> None:
    if done_at.tzinfo is None:
        raise InvalidInput("done_at", "must carry a timezone offset")
    if done_at < since:
        raise InvalidInput("done_at", "is before the appeal was received")


def check_assessment(
    stage: Stage,
    *,
    threat_to_life: bool,
    emergency_measures: tuple[str, ...],
    done_at: datetime,
    since: datetime,
) -> None:
    """Refuse an assessment made twice, or one under a threat with no emergency measures."""
    if stage is not Stage.RECEIVED:
        raise IllegalTransition("the primary assessment is already recorded (F3)")
    if threat_to_life and not emergency_measures:
        # p.13.2/p.14.2: "жедел ден қою шараларын тағайындай отырып".
        raise InvalidInput("emergency_measures", "a threat to life or health needs them")
    _check_done(done_at, since)


def check_needs(stage: Stage, *, done_at: datetime, since: datetime) -> None:
    """Refuse needs before an assessment found a difficult life situation (p.13.3)."""
    if stage is Stage.RECEIVED:
        raise IllegalTransition("needs follow the primary assessment (F3)")
    if stage is not Stage.ASSESSED:
        raise IllegalTransition("the needs are already determined, or the appeal is closed")
    _check_done(done_at, since)


# --- mobile groups ---------------------------------------------------------------------------

# p.21: education, healthcare and internal affairs, coordinated by social protection.
MEMBER_TYPES = frozenset({"education_authority", "education_org", "healthcare", "police"})


@dataclass(frozen=True)
class GroupTerm:
    """A mobile group's approval: one calendar year by the akim's order (p.21)."""

    year: int
    order_ref: str
    order_date: date

    @property
    def valid_from(self) -> date:
        """Return the first day of the year the order approves."""
        return date(self.year, 1, 1)

    @property
    def valid_to(self) -> date:
        """Return the last day of the year the order approves."""
        return date(self.year, 12, 31)

    def covers(self, day: date) -> bool:
        """Tell whether the group is approved on that day."""
        return self.valid_from <= day <= self.valid_to


def check_group(term: GroupTerm, member_types: list[str]) -> None:
    """Refuse a group without the akim's order, or with members p.21 does not name."""
    if not term.order_ref.strip():
        raise InvalidInput("order_ref", "the akim's order approves the group (p.21)")
    if term.order_date.year > term.year:
        raise InvalidInput("order_date", "an order approves the year it precedes or falls in")
    if not member_types:
        raise InvalidInput("members", "the group has members (p.21)")
    for index, agency_type in enumerate(member_types):
        if agency_type not in MEMBER_TYPES:
            raise InvalidInput(
                f"members.{index}.agency_type",
                "p.21 names education, healthcare and internal affairs",
            )


# --- temporary stays -------------------------------------------------------------------------


class StayBasis(StrEnum):
    """p.25: a referral of social protection, healthcare or internal affairs, or an application."""

    SOCIAL_PROTECTION = "referral_social_protection"
    HEALTHCARE = "referral_healthcare"
    POLICE = "referral_police"
    APPLICATION = "personal_application"


def stay_limit(admitted_on: date) -> date:
    """Return the last day a stay may run to: one month (p.6.4, p.23.5 "бір айға дейін")."""
    return admitted_on + relativedelta(months=1)


def check_stay(*, admitted_at: datetime, until: date, now: datetime) -> None:
    """Refuse a stay past one month, or one that ends before it starts."""
    if admitted_at.tzinfo is None:
        raise InvalidInput("admitted_at", "must carry a timezone offset")
    if admitted_at > now:
        raise InvalidInput("admitted_at", "is in the future")
    start = local_day(admitted_at)
    if until < start:
        raise InvalidInput("until", "is before the admission")
    if until > stay_limit(start):
        raise InvalidInput("until", "a temporary stay lasts at most one month (p.23.5)")


# p.6.4, p.23.5 give the stay "бір айға дейінгі мерзімге" (for up to one month) and say nothing of
# any extension: a stay may be extended within its month, never past it.
NO_EXTENSION = (
    "a temporary stay lasts at most one month from the admission and the rules provide no "
    "extension past it (p.6.4, p.23.5)"
)


def check_extension(*, ended: bool, admitted_at: datetime, until: date, new_until: date) -> None:
    """Refuse extending an ended stay, shortening it, or running it past its month."""
    if ended:
        raise IllegalTransition("the stay has ended")
    if new_until <= until:
        raise InvalidInput("until", "an extension runs past the stay's present end")
    if new_until > stay_limit(local_day(admitted_at)):
        raise InvalidInput("until", NO_EXTENSION)


def check_room(*, capacity: int | None, occupied: int, coming: int) -> None:
    """Refuse an undeclared room, or more people than its places (p.23.5: rooms of the stays)."""
    if capacity is None:
        raise InvalidInput("room", "is not a room the centre declared (PUT /v1/rooms/{room})")
    if occupied + coming > capacity:
        raise IllegalTransition(
            f"the room has {capacity} places, {occupied} taken: {coming} more do not fit"
        )


def check_capacity(*, capacity: int, occupied: int) -> None:
    """Refuse declaring fewer places than the people staying in the room now."""
    if capacity < occupied:
        raise IllegalTransition(f"{occupied} people stay in the room now")


class SupportKind(StrEnum):
    """The support measures p.23 gives a person with signs of domestic violence (the fifth, a
    temporary stay, is a stay: `POST /v1/stays`)."""

    INFORMATION = "information"
    LEGAL = "legal"
    PSYCHOLOGICAL = "psychological"
    EMPLOYMENT = "employment"
    MEDICAL_ASSISTANCE = "medical_assistance"
    STATE_SUPPORT_CONSULTATION = "state_support_consultation"


# p.23.1 information, legal and psychological help; p.23.2 help with employment and training;
# p.23.3 help to receive the guaranteed free medical care; p.23.4 consultations on state support.
SUPPORT_CLAUSE: dict[SupportKind, str] = {
    SupportKind.INFORMATION: "p.23.1",
    SupportKind.LEGAL: "p.23.1",
    SupportKind.PSYCHOLOGICAL: "p.23.1",
    SupportKind.EMPLOYMENT: "p.23.2",
    SupportKind.MEDICAL_ASSISTANCE: "p.23.3",
    SupportKind.STATE_SUPPORT_CONSULTATION: "p.23.4",
}


def check_measure(
    *, domestic_violence: bool, provided_on: date, received_on: date, today: date
) -> None:
    """Refuse a p.23 measure for an appeal without signs of domestic violence, or misdated."""
    if not domestic_violence:
        raise IllegalTransition("p.23 measures are for a person with signs of domestic violence")
    if provided_on < received_on or provided_on > today:
        raise InvalidInput("provided_on", "is between the appeal and today")


def check_stay_end(*, ended: bool, admitted_at: datetime, left_at: datetime) -> None:
    """Refuse ending a stay twice, or before it began."""
    if ended:
        raise IllegalTransition("the stay has ended")
    if left_at.tzinfo is None:
        raise InvalidInput("left_at", "must carry a timezone offset")
    if left_at < admitted_at:
        raise InvalidInput("left_at", "is before the admission")


# --- the centre's staff (Appendix, as amended 16.04.2026 No. 187) -----------------------------


def appeal_band(per_day: float) -> int:
    """Return the Appendix's column for an appeal rate: 0 (up to 50), 1 (51-100), 2 (over 100)."""
    if per_day <= 50:
        return 0
    return 1 if per_day <= 100 else 2


# Positions the Appendix sets by the appeal rate (per institution otherwise), in its order.
STAFF_MINIMUM: dict[str, tuple[float, float, float]] = {
    "director": (1, 1, 1),
    "deputy_director": (0, 1, 1),
    "chief_accountant": (0.5, 1, 1),
    "head_of_unit": (2, 2, 2),
    "accountant": (0, 0, 1),
    "hr_inspector": (0.5, 1, 1),
    "procurement_manager": (0.5, 1, 1),
    "social_worker": (2, 2, 3),
    "psychologist": (2, 2, 3),
    "lawyer": (2, 2, 2),
    "media_specialist": (1, 1, 1),
    "analytics_specialist": (0, 1, 2),
    "it_security_specialist": (0, 1, 1),
    "prevention_specialist": (1, 2, 3),
}


def staff_gaps(per_day: float, declared: dict[str, float]) -> dict[str, float]:
    """Return, per position, how many units the declared staff lacks for the appeal rate."""
    column = appeal_band(per_day)
    gaps: dict[str, float] = {}
    for position, minimum in STAFF_MINIMUM.items():
        lacking = minimum[column] - declared.get(position, 0)
        if lacking > 0:
            gaps[position] = lacking
    return gaps
