"""Decisions: which rows a report (or an arrival) brings, who owes them, what is delivered."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from services.routing.domain.directory import (
    Agency,
    Party,
    candidates,
    escalation_target,
    resolve,
    roles_of,
)
from services.routing.domain.errors import RoutingError
from services.routing.domain.rows import (
    RECEIVER,
    REPORTER,
    CaseFacts,
    Kind,
    Row,
    Rules,
    holds,
    local_date,
)

# Ids derived from the case and the duty: replaying an event yields the same ids.
IDS = uuid.UUID("5b0e6c1e-7d0f-4a53-9c1b-6a2f0e0a7a11")


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


@dataclass(frozen=True)
class Delivery:
    """A case the platform delivers to an agency, under a row."""

    referral_id: str
    agency: Agency
    # The type the agency acts as (the type the row names, which it may stand in for).
    role: str
    purpose: str
    # Every row this delivery carries to the agency in this decision, in order (the first is
    # the row it was issued for): one referral per agency, naming each row.
    rows: tuple[str, ...] = ()


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
    # The referral of this decision, issued for another row, that delivers this one too.
    carried_by: str | None = None


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


def plan_line_referral_id(obligation_id: str) -> str:
    """Return the id of the referral that delivers a plan line (one per line's obligation)."""
    return str(uuid.uuid5(IDS, f"plan_line|{obligation_id}"))


def action_key(code: str, actor: Party, target_type: str | None = None) -> str:
    """Return the key of the duty an actor owes under a row (towards a target type, if any)."""
    return f"{code}@{actor.key}" + (f">{target_type}" if target_type else "")


def action_duty(
    *,
    case_id: str,
    code: str,
    legal_basis: str,
    term: str,
    actor: Party,
    target_type: str | None,
    started_at: datetime,
    via_referral_id: str | None,
    delivery: Delivery | None = None,
) -> Duty:
    """Return the action an agency owes under a row: an obligation the platform never meets."""
    key = action_key(code, actor, target_type)
    return Duty(
        key=key,
        obligation_id=obligation_id_for(case_id, key),
        code=code,
        legal_basis=legal_basis,
        kind=Kind.ACTION,
        term=term,
        actor=actor,
        target=Party(target_type) if target_type else None,
        started_at=started_at,
        delivery=delivery,
        met_by_platform=False,
        via_referral_id=via_referral_id,
    )


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
    # The deliveries this decision makes, by agency: a second row to it joins the first.
    issued: dict[str, Delivery] = field(default_factory=dict)
    escalated: dict[str, Delivery] = field(default_factory=dict)
    receivers: list[Receiver] = field(default_factory=list)

    def _add(self, duty: Duty) -> None:
        self.applied.add(duty.key)
        self.duties.append(duty)
        if duty.delivery is not None:
            self._received(duty.delivery)

    def _received(self, delivery: Delivery, role: str | None = None) -> None:
        self.delivered_to.setdefault(delivery.agency.agency_id, delivery.referral_id)
        self.issued.setdefault(delivery.agency.agency_id, delivery)
        self.receivers.append(
            Receiver(
                role=role or delivery.role,
                party=Party(delivery.agency.agency_type, delivery.agency.agency_id),
                received_at=self.now,
                via_referral_id=delivery.referral_id,
            )
        )

    def finished(self) -> Decision:
        """Return the decision, each delivery naming every row it carries."""
        carried: dict[str, list[str]] = {}
        for duty in self.duties:
            referral_id = duty.delivery.referral_id if duty.delivery else duty.carried_by
            if referral_id is not None and duty.code not in carried.get(referral_id, []):
                carried.setdefault(referral_id, []).append(duty.code)
        return Decision(
            tuple(
                replace(duty, delivery=replace(duty.delivery, rows=tuple(carried[ref])))
                if duty.delivery is not None and (ref := duty.delivery.referral_id) in carried
                else duty
                for duty in self.duties
            )
        )

    def _own_kind(self, actor: Party, agency_type: str) -> bool:
        """Tell whether an agency type is the actor's or the reporter's own kind in the region.

        Rules 38874 p.8 and Guide p.4-5 name other bodies: an agency of a type (whatever its
        directory id, or none) is never told, nor asked to refer, of its own kind's case.
        """
        parties = (actor, self.reporter.party)
        return any(
            agency_type in roles_of(p.agency_type, self.case.region, self.directory, self.rules)
            for p in parties
        )

    def _held(self, row: Row, target_type: str | None) -> bool:
        """Tell whether the case already holds a named agency type's duty under a row.

        A row owed by a named type (R2's education side, G7-G9, F7) is the case's once,
        whichever agency reported first; the reporter's and receiver's own rows are per agency.
        """
        if row.actor in (REPORTER, RECEIVER):
            return False
        suffix = f">{target_type}" if target_type else ""
        for key in self.applied:
            code, _at, rest = key.partition("@")
            if code == row.code and rest.endswith(suffix) and (suffix or ">" not in rest):
                return True
        return False

    def _escalation(self, key: str, unresolved: str) -> Delivery | None:
        found = escalation_target(unresolved, self.case.region, self.directory, self.rules)
        if found is None:
            return None
        role, agency = found
        earlier = self.escalated.get(agency.agency_id)
        if earlier is not None:
            # Several gaps escalated to one body at once: one referral names them all.
            return earlier
        delivery = Delivery(
            referral_id_for(self.case.case_id, f"{key}!escalation"),
            agency,
            role,
            "escalation",
        )
        self.escalated[agency.agency_id] = delivery
        return delivery

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
        if row.term_from == "child_removed_at" and self.case.child_removed_at is not None:
            # Guide p.12.2, p.12.4: the term runs from the removal of the child.
            started = self.case.child_removed_at
        if actor is None:
            self._unresolved_actor(row, started)
            return
        role = via.role if via is not None else row.actor
        via_id = via.via_referral_id if via is not None else None
        if row.kind is Kind.ACTION:
            self._action(row, actor, role, started, via_id, is_reporter, row.involves)
            for kind in row.joined_by:
                # Rules 38874 p.12.3: those who join the visit are told, citing the row.
                self._transfer(row, actor, kind, started, via_id)
            return
        for target in row.targets:
            if target.judgement:
                self._action(row, actor, role, started, via_id, is_reporter, target.agency_type)
            else:
                self._transfer(row, actor, target.agency_type, started, via_id)

    def _unresolved_actor(self, row: Row, started: datetime) -> None:
        key = action_key(row.code, Party(row.actor))
        if key in self.applied:
            return
        owed = self._row_duty(
            row, key, kind=row.kind, actor=Party(row.actor), started=started, via_id=None
        )
        self._add(
            replace(
                owed,
                unresolved=row.actor,
                escalation=self._escalation(key, row.actor),
            )
        )

    def _row_duty(
        self,
        row: Row,
        key: str,
        *,
        kind: Kind,
        actor: Party,
        started: datetime,
        via_id: str | None,
        target: Party | None = None,
    ) -> Duty:
        """Return a duty a row opens in this case, delivered to nobody yet."""
        return Duty(
            key=key,
            obligation_id=obligation_id_for(self.case.case_id, key),
            code=row.code,
            legal_basis=row.legal_basis,
            kind=kind,
            term=row.term,
            actor=actor,
            target=target,
            started_at=started,
            delivery=None,
            met_by_platform=False,
            via_referral_id=via_id,
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
        key = action_key(row.code, actor, target_type)
        if key in self.applied or self._held(row, target_type):
            return
        if target_type is not None and self._own_kind(actor, target_type):
            self.applied.add(key)
            return
        delivery = None
        carried_by = None
        if not is_reporter and actor.agency_id is not None:
            told = self.delivered_to.get(actor.agency_id)
            if told is not None:
                via_id = told
                if actor.agency_id in self.issued and row.actor != RECEIVER:
                    # A named agency's own duty (G8, R2, ...) told by this decision's referral.
                    carried_by = told
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
        duty = action_duty(
            case_id=self.case.case_id,
            code=row.code,
            legal_basis=row.legal_basis,
            term=row.term,
            actor=actor,
            target_type=target_type,
            started_at=started,
            via_referral_id=via_id,
            delivery=delivery,
        )
        self._add(replace(duty, carried_by=carried_by))

    def _transfer(
        self, row: Row, actor: Party, target_type: str, started: datetime, via_id: str | None
    ) -> None:
        key = f"{row.code}>{target_type}"
        if key in self.applied:
            return
        if self._own_kind(actor, target_type):
            # The case is already with a body of that kind: the one that acts or reported.
            self.applied.add(key)
            return
        found = candidates(target_type, self.case.region, self.directory, self.rules)
        transfer = self._row_duty(
            row,
            key,
            kind=Kind.TRANSFER,
            actor=actor,
            started=started,
            via_id=via_id,
            target=Party(target_type),
        )
        if not found:
            self._add(
                replace(
                    transfer,
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
        target = Party(agency.agency_type, agency.agency_id)
        carrier = self.issued.get(agency.agency_id)
        if carrier is not None:
            # Several rows send the case to one agency at once: one referral names them all,
            # and each row stays its own obligation, met by that delivery.
            self._add(replace(transfer, target=target, met_by_platform=True))
            self.duties[-1] = replace(self.duties[-1], carried_by=carrier.referral_id)
            self._received(carrier, role=target_type)
            return
        referral_id = referral_id_for(self.case.case_id, key)
        self._add(
            replace(
                transfer,
                target=Party(agency.agency_type, agency.agency_id),
                delivery=Delivery(referral_id, agency, target_type, "transfer"),
                met_by_platform=True,
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
    return decider.finished()


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
    return decider.finished()


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


def decide_on_admission(
    *,
    case: CaseFacts,
    admitting: Receiver,
    rules: Rules,
    directory: Sequence[Agency],
    now: datetime,
    applied: Iterable[str] = (),
) -> Decision:
    """Return the duties an agency owes when it admits a person to a stay (trigger `admitted`).

    Family Centre Rules p.26 binds the centre when it admits a person with minor children, not
    when anyone reports (F10): the rows in force on the day of the admission apply, and the
    agencies they deliver the case to owe what they owe on receipt.
    """
    decider = _Decider(
        case, Reporter(admitting.party, admitting.received_at), rules, directory, now, set(applied)
    )
    for row in rules.in_force(local_date(admitting.received_at)):
        if (
            row.trigger == "admitted"
            and row.received_by == admitting.role
            and holds(row.when, case, admitting.party.agency_type)
        ):
            decider.apply(row, admitting)
    _receive(decider, case, admitting.party.agency_type)
    return decider.finished()
