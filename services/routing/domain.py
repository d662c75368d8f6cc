"""Routing's rules: which agencies must be told and must act, by which row and clause.

Standard library only. The catalogue is data (catalogue.py); this module reads the facts of a
case, picks the rows in force that apply, resolves every actor and target to an agency of the
directory following the stand-ins the regulations name, and says what to deliver and what to
open. It also holds the referral's lifecycle (issued -> acknowledged | declined -> re-routed |
escalated) and where a declined referral goes next.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from shared.contracts.vocabulary import NO_TERM as NO_TERM

# Terms and the dates rules are in force are Kazakhstan civil dates (REGULATIONS.md, "Time").
ALMATY = ZoneInfo("Asia/Almaty")

# Ids derived from the case and the duty: replaying an event yields the same ids.
IDS = uuid.UUID("5b0e6c1e-7d0f-4a53-9c1b-6a2f0e0a7a11")

REPORTER = "reporter"
RECEIVER = "receiver"


class RoutingError(Exception):
    """A step the rules do not allow."""


class IllegalTransition(RoutingError):
    """A referral cannot go from its status to the one asked (answered 409)."""


class NotAddressee(RoutingError):
    """Only the agency a referral was delivered to may answer it (answered 403)."""


class NoAgencyLeft(RoutingError):
    """Nobody is left to take a declined referral: it must be acknowledged, never dropped."""


class DirectoryError(RoutingError):
    """A directory change that conflicts with the directory (answered 409)."""


class DirectoryInvalid(RoutingError):
    """A directory entry whose field breaks a rule of the directory (answered 422 naming it)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


# -- the directory --------------------------------------------------------------------------


@dataclass(frozen=True)
class Agency:
    """An agency of the directory (a national body has no region)."""

    agency_id: str
    agency_type: str
    region: str | None
    active: bool = True


@dataclass(frozen=True)
class Party:
    """Who acts or is told: an agency type, and the agency's id where it is known."""

    agency_type: str
    agency_id: str | None = None

    @property
    def key(self) -> str:
        """Return a stable name for the party in duty keys."""
        return self.agency_id or f"type:{self.agency_type}"


# -- the catalogue --------------------------------------------------------------------------


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
    # "report" (the report arrives) or "received" (an agency of `received_by` receives the case).
    trigger: str = "report"
    received_by: str | None = None
    # "reporter", "receiver" or an agency type (the reporter acts when it is of that type).
    actor: str = REPORTER
    actor_also_reporter_types: frozenset[str] = frozenset()
    when: Conditions = Conditions()
    targets: tuple[TargetSpec, ...] = ()
    involves: str | None = None
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


# -- facts ----------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Reporter:
    """The agency whose report this decision answers, and when it learned of the case."""

    party: Party
    received_at: datetime
    report_id: str | None = None


@dataclass(frozen=True)
class Receiver:
    """An agency that has the case: it reported it, or the platform delivered it to it."""

    role: str
    party: Party
    received_at: datetime
    via_referral_id: str | None = None
    # Received in an earlier decision: rows it newly owes start now and must be delivered.
    earlier: bool = False
    is_reporter: bool = False


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


# -- resolving agencies ---------------------------------------------------------------------


def candidates(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> list[tuple[str, Agency]]:
    """Return the agencies that act as a type in a region, best first, with the type they are.

    The type's own agencies (regional before national); where the region has none (left),
    those of the first type that stands in for it (Rules 38874 p.8: the guardianship body).
    """
    excluded = set(exclude)
    for kind in (agency_type, *rules.stand_ins.get(agency_type, ())):
        of_kind = sorted(
            (
                a
                for a in directory
                if a.active
                and a.agency_type == kind
                and a.region in (region, None)
                and a.agency_id not in excluded
            ),
            key=lambda a: (a.region is None, a.agency_id),
        )
        if of_kind:
            return [(kind, a) for a in of_kind]
    return []


def resolve(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> Agency | None:
    """Find the agency that acts as a type in a region, or None."""
    found = candidates(agency_type, region, directory, rules, exclude=exclude)
    return found[0][1] if found else None


def roles_of(agency_type: str, region: str, directory: Sequence[Agency], rules: Rules) -> list[str]:
    """Return the types an agency acts as in a region: its own, and those it stands in for."""
    roles = [agency_type]
    for role, stand_ins in rules.stand_ins.items():
        if agency_type in stand_ins and not any(
            a.active and a.agency_type == role and a.region in (region, None) for a in directory
        ):
            roles.append(role)
    return roles


def escalation_target(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> tuple[str, Agency] | None:
    """Return who takes what no agency of a type is left for: national body or last resort.

    Returns the type it acts as and the agency, or None.
    """
    excluded = set(exclude)
    for kind in (rules.supervisors.get(agency_type), rules.last_resort):
        if kind is None:
            continue
        agency = resolve(kind, region, directory, rules, exclude=excluded)
        if agency is not None:
            return kind, agency
    return None


# -- decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """A case the platform delivers to an agency, under a row."""

    referral_id: str
    agency: Agency
    # The type the agency acts as (the type the row names, which it may stand in for).
    role: str
    purpose: str


@dataclass(frozen=True)
class Duty:
    """An obligation a row opens, and the delivery that carries it out or tells the actor."""

    key: str
    obligation_id: str
    code: str
    legal_basis: str
    kind: Kind
    term: str
    actor: Party
    target: Party | None
    started_at: datetime
    # The delivery that makes the transfer, or that tells the acting agency of its duty.
    delivery: Delivery | None
    # A transfer that needs no one's judgement, made by the platform at once.
    met_by_platform: bool
    # The referral through which the actor has the case (cancelled with it on a decline).
    via_referral_id: str | None
    # The agency type the rules name but no active agency of it (or of its stand-in) exists.
    unresolved: str | None = None
    # Where a duty nobody can take is escalated (its national body, else the last resort).
    escalation: Delivery | None = None


@dataclass(frozen=True)
class Decision:
    """What routing decided for a report: duties in the order they were found."""

    duties: tuple[Duty, ...] = ()


def obligation_id_for(case_id: str, key: str) -> str:
    """Return the obligation id of a duty of a case."""
    return str(uuid.uuid5(IDS, f"{case_id}|obligation|{key}"))


def referral_id_for(case_id: str, key: str) -> str:
    """Return the id of the referral that carries a duty of a case."""
    return str(uuid.uuid5(IDS, f"{case_id}|referral|{key}"))


def next_referral_id(referral_id: str) -> str:
    """Return the id of the referral that replaces a declined one (one per referral)."""
    return str(uuid.uuid5(IDS, f"{referral_id}|next"))


def escalation_referral_id(escalation_obligation_id: str) -> str:
    """Return the id of the referral that delivers a deadlines escalation."""
    return str(uuid.uuid5(IDS, f"escalation|{escalation_obligation_id}"))


@dataclass
class _Decider:
    case: CaseFacts
    reporter: Reporter
    rules: Rules
    directory: Sequence[Agency]
    now: datetime
    applied: set[str]
    duties: list[Duty] = field(default_factory=list)
    delivered_to: dict[str, str] = field(default_factory=dict)
    receivers: list[Receiver] = field(default_factory=list)

    def _add(self, duty: Duty) -> None:
        self.applied.add(duty.key)
        self.duties.append(duty)
        if duty.delivery is not None:
            self._received(duty.delivery)

    def _received(self, delivery: Delivery) -> None:
        self.delivered_to.setdefault(delivery.agency.agency_id, delivery.referral_id)
        self.receivers.append(
            Receiver(
                role=delivery.role,
                party=Party(delivery.agency.agency_type, delivery.agency.agency_id),
                received_at=self.now,
                via_referral_id=delivery.referral_id,
            )
        )

    def _escalation(self, key: str, unresolved: str) -> Delivery | None:
        found = escalation_target(unresolved, self.case.region, self.directory, self.rules)
        if found is None:
            return None
        role, agency = found
        return Delivery(
            referral_id_for(self.case.case_id, f"{key}!escalation"),
            agency,
            role,
            "escalation",
        )

    def _actor(self, row: Row, receiver: Receiver | None) -> tuple[Party | None, Receiver | None]:
        """Return who acts under a row, and the receipt through which it has the case."""
        reporter = self.reporter.party
        if row.actor == RECEIVER:
            if receiver is None:
                raise RoutingError(f"{row.code} is owed by a receiving agency, and none is given")
            return receiver.party, receiver
        if row.actor == REPORTER or reporter.agency_type in (
            {row.actor} | row.actor_also_reporter_types
        ):
            return reporter, None
        agency = resolve(row.actor, self.case.region, self.directory, self.rules)
        if agency is None:
            return None, None
        return Party(agency.agency_type, agency.agency_id), None

    def apply(self, row: Row, receiver: Receiver | None) -> None:
        actor, via = self._actor(row, receiver)
        is_reporter = actor is not None and actor == self.reporter.party
        if receiver is not None and not receiver.earlier:
            started = receiver.received_at
        elif receiver is None and is_reporter:
            started = self.reporter.received_at
        else:
            # The actor learns of this duty only when the platform tells it, now.
            started = self.now
        if actor is None:
            self._unresolved_actor(row, started)
            return
        role = via.role if via is not None else row.actor
        via_id = via.via_referral_id if via is not None else None
        if row.kind is Kind.ACTION:
            self._action(row, actor, role, started, via_id, is_reporter, row.involves)
            return
        for target in row.targets:
            if target.judgement:
                self._action(row, actor, role, started, via_id, is_reporter, target.agency_type)
            else:
                self._transfer(row, actor, target.agency_type, started, via_id)

    def _unresolved_actor(self, row: Row, started: datetime) -> None:
        key = f"{row.code}@type:{row.actor}"
        if key in self.applied:
            return
        self._add(
            Duty(
                key=key,
                obligation_id=obligation_id_for(self.case.case_id, key),
                code=row.code,
                legal_basis=row.legal_basis,
                kind=row.kind,
                term=row.term,
                actor=Party(row.actor),
                target=None,
                started_at=started,
                delivery=None,
                met_by_platform=False,
                via_referral_id=None,
                unresolved=row.actor,
                escalation=self._escalation(key, row.actor),
            )
        )

    def _agency(self, party: Party) -> Agency:
        for agency in self.directory:
            if agency.agency_id == party.agency_id:
                return agency
        # Deactivated since it received the case: it is still the one that has it.
        return Agency(str(party.agency_id), party.agency_type, self.case.region)

    def _action(
        self,
        row: Row,
        actor: Party,
        role: str,
        started: datetime,
        via_id: str | None,
        is_reporter: bool,
        target_type: str | None,
    ) -> None:
        key = f"{row.code}@{actor.key}" + (f">{target_type}" if target_type else "")
        if key in self.applied:
            return
        delivery = None
        if not is_reporter and actor.agency_id is not None:
            told = self.delivered_to.get(actor.agency_id)
            if told is not None:
                via_id = told
            else:
                # The acting agency does not have the case in this decision: the platform
                # tells it of its duty (an action, never an automatic act in its place).
                delivery = Delivery(
                    referral_id_for(self.case.case_id, key),
                    self._agency(actor),
                    role if role not in (REPORTER, RECEIVER) else actor.agency_type,
                    "action",
                )
                via_id = delivery.referral_id
        self._add(
            Duty(
                key=key,
                obligation_id=obligation_id_for(self.case.case_id, key),
                code=row.code,
                legal_basis=row.legal_basis,
                kind=Kind.ACTION,
                term=row.term,
                actor=actor,
                target=Party(target_type) if target_type else None,
                started_at=started,
                delivery=delivery,
                met_by_platform=False,
                via_referral_id=via_id,
            )
        )

    def _transfer(
        self, row: Row, actor: Party, target_type: str, started: datetime, via_id: str | None
    ) -> None:
        key = f"{row.code}>{target_type}"
        if key in self.applied:
            return
        found = candidates(target_type, self.case.region, self.directory, self.rules)
        if not found:
            self._add(
                Duty(
                    key=key,
                    obligation_id=obligation_id_for(self.case.case_id, key),
                    code=row.code,
                    legal_basis=row.legal_basis,
                    kind=Kind.TRANSFER,
                    term=row.term,
                    actor=actor,
                    target=Party(target_type),
                    started_at=started,
                    delivery=None,
                    met_by_platform=False,
                    via_referral_id=via_id,
                    unresolved=target_type,
                    escalation=self._escalation(key, target_type),
                )
            )
            return
        _kind, agency = found[0]
        if agency.agency_id in {actor.agency_id, self.reporter.party.agency_id}:
            # The agency already has the case: it is not told about its own report.
            self.applied.add(key)
            return
        referral_id = referral_id_for(self.case.case_id, key)
        delivery = Delivery(referral_id, agency, target_type, "transfer")
        self._add(
            Duty(
                key=key,
                obligation_id=obligation_id_for(self.case.case_id, key),
                code=row.code,
                legal_basis=row.legal_basis,
                kind=Kind.TRANSFER,
                term=row.term,
                actor=actor,
                target=Party(agency.agency_type, agency.agency_id),
                started_at=started,
                delivery=delivery,
                met_by_platform=True,
                via_referral_id=via_id,
            )
        )


def decide(
    *,
    case: CaseFacts,
    reporter: Reporter,
    rules: Rules,
    directory: Sequence[Agency],
    now: datetime,
    earlier: Sequence[Receiver] = (),
    applied: Iterable[str] = (),
) -> Decision:
    """Return every duty a report brings to a case that the case does not have yet.

    Rows on the report are judged by the rules in force on the day the reporter learned of the
    case; rows a receiving agency owes, by those in force on the day it received it. `earlier`
    are the agencies that had the case before this report, `applied` the duty keys it has.
    """
    decider = _Decider(case, reporter, rules, directory, now, set(applied))
    reporter_type = reporter.party.agency_type
    for row in rules.in_force(local_date(reporter.received_at)):
        if row.trigger == "report" and holds(row.when, case, reporter_type):
            decider.apply(row, None)
    decider.receivers[:0] = [
        *(
            Receiver(role, reporter.party, reporter.received_at, None, is_reporter=True)
            for role in roles_of(reporter_type, case.region, directory, rules)
        ),
        *earlier,
    ]
    _receive(decider, case, reporter_type)
    return Decision(tuple(decider.duties))


def decide_on_arrival(
    *,
    case: CaseFacts,
    reporter: Reporter,
    arrival: Receiver,
    rules: Rules,
    directory: Sequence[Agency],
    now: datetime,
    applied: Iterable[str] = (),
) -> Decision:
    """Return the duties an agency owes when a case reaches it outside a report.

    A re-routed referral, or a transfer an agency made itself (R13, G2), delivers the case to
    an agency that then owes what its role owes on receipt (R7-R13, R14, R16, R21, ...).
    """
    decider = _Decider(case, reporter, rules, directory, now, set(applied))
    if arrival.party.agency_id is not None and arrival.via_referral_id is not None:
        decider.delivered_to[arrival.party.agency_id] = arrival.via_referral_id
    decider.receivers.append(arrival)
    _receive(decider, case, reporter.party.agency_type)
    return Decision(tuple(decider.duties))


def _receive(decider: _Decider, case: CaseFacts, reporter_type: str) -> None:
    """Open what each agency that has the case owes on receipt, until nobody new receives it."""
    seen: set[tuple[str, str, str | None]] = set()
    index = 0
    while index < len(decider.receivers):
        receiver = decider.receivers[index]
        index += 1
        mark = (receiver.role, receiver.party.key, receiver.via_referral_id)
        if mark in seen:
            continue
        seen.add(mark)
        on = local_date(decider.now if receiver.earlier else receiver.received_at)
        for row in decider.rules.in_force(on):
            if (
                row.trigger == "received"
                and row.received_by == receiver.role
                and holds(row.when, case, reporter_type)
            ):
                decider.apply(row, receiver)


# -- referrals ------------------------------------------------------------------------------


class ReferralStatus(StrEnum):
    """Where a referral stands."""

    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    REROUTED = "rerouted"
    ESCALATED = "escalated"


_NEXT: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.ISSUED: frozenset({ReferralStatus.ACKNOWLEDGED, ReferralStatus.DECLINED}),
    ReferralStatus.DECLINED: frozenset({ReferralStatus.REROUTED, ReferralStatus.ESCALATED}),
}


def transition(current: str, wanted: ReferralStatus) -> ReferralStatus:
    """Return the new status of a referral, or raise when the step is not allowed."""
    status = ReferralStatus(current)
    if wanted not in _NEXT.get(status, frozenset()):
        raise IllegalTransition(f"a referral {status.value} cannot become {wanted.value}")
    return wanted


def check_addressee(to_agency_id: str, answering_agency_id: str) -> None:
    """Raise unless the answering agency is the one the referral was delivered to."""
    if to_agency_id != answering_agency_id:
        raise NotAddressee("only the agency a referral was delivered to may answer it")


@dataclass(frozen=True)
class NextStep:
    """Where a declined referral goes: re-routed to an agency of its role, or escalated."""

    outcome: ReferralStatus
    agency: Agency
    role: str


def after_decline(
    *,
    role: str,
    region: str,
    declined: Iterable[str],
    directory: Sequence[Agency],
    rules: Rules,
) -> NextStep:
    """Choose where a declined referral goes; it never vanishes.

    Another agency of the role in the region (or of the type standing in for it), else the
    role's national body, else the region's last resort; every agency that already declined
    this case's referral is passed over. Raises NoAgencyLeft when nobody is left.
    """
    declined = set(declined)
    other = resolve(role, region, directory, rules, exclude=declined)
    if other is not None:
        return NextStep(ReferralStatus.REROUTED, other, role)
    found = escalation_target(role, region, directory, rules, exclude=declined)
    if found is not None:
        kind, agency = found
        return NextStep(ReferralStatus.ESCALATED, agency, kind)
    raise NoAgencyLeft(f"no agency is left to take a declined {role} referral in {region}")


# -- the directory's own rules ----------------------------------------------------------------


def check_directory_entry(
    agency: Agency, *, rules: Rules, others: Sequence[Agency], regions: Iterable[str]
) -> None:
    """Raise unless an agency fits the directory: national bodies are one per country."""
    if agency.agency_type in rules.national_types:
        if agency.region is not None:
            raise DirectoryInvalid(
                "region", f"a {agency.agency_type} is national: it has no region"
            )
        if agency.active and any(
            o.active and o.agency_type == agency.agency_type and o.agency_id != agency.agency_id
            for o in others
        ):
            raise DirectoryError(
                f"there is already an active {agency.agency_type}: one per country"
            )
        return
    if agency.region is None:
        raise DirectoryInvalid("region", f"a {agency.agency_type} belongs to a region")
    if agency.region not in set(regions):
        raise DirectoryInvalid("region", f"unknown region {agency.region!r}")
