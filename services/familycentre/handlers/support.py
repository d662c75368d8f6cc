"""Mobile groups and emergency response (p.20-22, F7), referral to a shelter (p.24, F8) and
temporary stays (p.23.5, p.25-26, F9, F10)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from services.familycentre import domain, records, repository
from services.familycentre.handlers.appeals import active_agency, held_appeal
from services.familycentre.handlers.common import (
    Actor,
    CentreDeps,
    UnknownAgency,
    UnknownGroup,
    UnknownStay,
    envelope,
    meet,
    open_of,
    open_row,
    require_centre,
    require_head,
)
from services.familycentre.handlers.plans import draft_emergency_plan
from services.familycentre.handlers.reports import owe_report
from services.familycentre.handlers.stays import check_room
from services.familycentre.tables import Appeal, MobileGroup, Stay
from shared.contracts.familycentre import CentreDelivery, MobileGroupEngaged, PersonAdmitted
from shared.db import unit_of_work
from shared.outbox import stage

MEMBERS_FIELD = "group.members"
PEOPLE_FIELD = "stay.people"


def register_group(
    term: domain.GroupTerm,
    *,
    coordinator_agency_id: str,
    members: list[dict[str, str]],
    actor: Actor,
    deps: CentreDeps,
) -> MobileGroup:
    """Record a mobile group the akim's order approved for a calendar year (p.21)."""
    require_head(actor)
    domain.check_group(term, [member.get("agency_type", "") for member in members])
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        try:
            kind, _region = active_agency(session, coordinator_agency_id)
        except UnknownAgency:
            raise domain.InvalidInput("coordinator_agency_id", "is not an active agency") from None
        if kind != "social_protection":
            # p.21: "әлеуметтік қорғау ... жергілікті атқарушы органдардың үйлестіруімен".
            raise domain.InvalidInput(
                "coordinator_agency_id", "social protection coordinates (p.21)"
            )
        group = MobileGroup(
            group_id=str(uuid.uuid4()),
            centre_agency_id=actor.agency_id,
            coordinator_agency_id=coordinator_agency_id,
            year=term.year,
            order_ref=term.order_ref,
            order_date=term.order_date,
            members=records.seal(deps.cipher, members, field=MEMBERS_FIELD) or "",
            recorded_at=now,
        )
        session.add(group)
        session.commit()
        return group


def _meet_or_open(
    session: Any,
    appeal: Appeal,
    spec: domain.RowSpec,
    *,
    at: datetime,
    fields: dict[str, Any],
    now: datetime,
) -> str:
    """Meet the row's open obligation on the case (routing's or the centre's), else open and meet
    the centre's own: the duty exists whether or not a report brought it."""
    row = open_of(session, case_id=appeal.case_id, code=spec.code)
    if row is None:
        row = open_row(
            session,
            spec,
            case_id=appeal.case_id,
            correlation_id=appeal.correlation_id,
            actor_type=domain.CENTRE,
            actor_id=appeal.centre_agency_id,
            region=appeal.region,
            started_at=appeal.received_at,
            fields=fields,
            now=now,
        )
    if row.status == "open":
        meet(session, row, met_at=at, by_agency_id=appeal.centre_agency_id, fields=fields, now=now)
    return row.obligation_id


def engage_group(
    appeal_id: str, *, group_id: str, engaged_at: datetime, actor: Actor, deps: CentreDeps
) -> tuple[Appeal, str]:
    """Engage the mobile group on a direct threat (F7) and open the emergency response plan."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        if not appeal.threat_to_life:
            raise domain.IllegalTransition("the group is engaged on a direct threat (p.22)")
        if appeal.group_id is not None:
            raise domain.IllegalTransition("the mobile group is engaged already")
        group = repository.get_group(session, group_id=group_id)
        if group is None or group.centre_agency_id != actor.agency_id:
            raise UnknownGroup(group_id)
        term = domain.GroupTerm(group.year, group.order_ref, group.order_date)
        if engaged_at.tzinfo is None or engaged_at > now or engaged_at < appeal.received_at:
            raise domain.InvalidInput("engaged_at", "is between the appeal and now, with an offset")
        if not term.covers(domain.local_day(engaged_at)):
            raise domain.InvalidInput(
                "group_id", "the group's order does not cover that year (p.21)"
            )
        fields = envelope(now, case_id=appeal.case_id, correlation_id=appeal.correlation_id)
        appeal.group_id = group_id
        appeal.engaged_at = engaged_at
        session.add(appeal)
        _meet_or_open(session, appeal, domain.F7, at=engaged_at, fields=fields, now=now)
        plan = draft_emergency_plan(
            session,
            appeal_id=appeal.appeal_id,
            case_id=appeal.case_id,
            centre=appeal.centre_agency_id,
            start=domain.local_day(engaged_at),
            deps=deps,
            now=now,
        )
        stage(
            session,
            MobileGroupEngaged(
                **fields,
                group_id=uuid.UUID(group_id),
                appeal_id=uuid.UUID(appeal.appeal_id),
                centre_agency_id=appeal.centre_agency_id,
                engaged_at=engaged_at,
                legal_basis=domain.F7.legal_basis,
            ),
            now=now,
        )
        session.commit()
        return appeal, plan.plan_id


def refer_to_shelter(
    appeal_id: str,
    *,
    shelter_agency_id: str,
    consent: bool,
    referred_at: datetime,
    actor: Actor,
    deps: CentreDeps,
) -> Appeal:
    """Refer a person with signs of domestic violence to a shelter, with consent (F8, p.24)."""
    now = deps.clock.now()
    if not consent:
        # p.11: help is voluntary ("ерікті негізде").
        raise domain.InvalidInput("consent", "the person's consent is required (p.11)")
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        if appeal.shelter_agency_id is not None:
            raise domain.IllegalTransition("the person is referred to a shelter already")
        if referred_at.tzinfo is None or referred_at > now or referred_at < appeal.received_at:
            raise domain.InvalidInput(
                "referred_at", "is between the appeal and now, with an offset"
            )
        try:
            kind, region = active_agency(session, shelter_agency_id)
        except UnknownAgency:
            kind, region = "", None
        if kind != "shelter":
            raise domain.InvalidInput("shelter_agency_id", "is not an active shelter")
        fields = envelope(now, case_id=appeal.case_id, correlation_id=appeal.correlation_id)
        appeal.shelter_agency_id = shelter_agency_id
        appeal.shelter_referred_at = referred_at
        session.add(appeal)
        f8 = _meet_or_open(session, appeal, domain.F8, at=referred_at, fields=fields, now=now)
        stage(
            session,
            CentreDelivery(
                **fields,
                delivery_id=uuid.UUID(domain.derived_id("shelter", appeal.appeal_id)),
                what="shelter_referral",
                code="F8",
                legal_basis=domain.F8.legal_basis,
                obligation_id=uuid.UUID(f8),
                from_agency_id=appeal.centre_agency_id,
                to_agency_id=shelter_agency_id,
                region=region or appeal.region,
            ),
            now=now,
        )
        session.commit()
        return appeal


@dataclass(frozen=True)
class StayDraft:
    """A temporary stay: on what basis, which room, from when to when, who (encrypted)."""

    basis: domain.StayBasis
    room: str
    admitted_at: datetime
    until: date
    person: dict[str, Any]
    children: list[dict[str, Any]]
    appeal_id: str | None = None


def admit(draft: StayDraft, *, actor: Actor, deps: CentreDeps) -> Stay:
    """Admit a person to a temporary stay (F9); with minor children, together (p.26), and routing
    opens F10 and delivers the written notices to the police and the guardianship body."""
    require_centre(actor)
    now = deps.clock.now()
    domain.check_stay(admitted_at=draft.admitted_at, until=draft.until, now=now)
    if actor.region is None:
        raise domain.InvalidInput("region", "the centre's token names no region")
    with unit_of_work(deps.engine) as session:
        case_id = str(uuid.uuid4())
        correlation_id = case_id
        if draft.appeal_id is not None:
            appeal = held_appeal(session, draft.appeal_id, actor)
            case_id, correlation_id = appeal.case_id, appeal.correlation_id
        # p.26: the children are admitted with the person, so the room must hold them all.
        check_room(
            session, agency_id=actor.agency_id, room=draft.room, coming=1 + len(draft.children)
        )
        stay = Stay(
            stay_id=str(uuid.uuid4()),
            case_id=case_id,
            appeal_id=draft.appeal_id,
            centre_agency_id=actor.agency_id,
            region=actor.region,
            basis=draft.basis.value,
            room=draft.room,
            admitted_at=draft.admitted_at,
            until=draft.until,
            accompanying_minors=len(draft.children),
            people=records.seal(
                deps.cipher,
                {"person": draft.person, "children": draft.children},
                field=PEOPLE_FIELD,
            )
            or "",
        )
        session.add(stay)
        if draft.children:
            # The children are reported to intake as minors who witnessed violence.
            owe_report(
                session, stay, person=draft.person, children=draft.children, deps=deps, now=now
            )
        fields = envelope(now, case_id=case_id, correlation_id=correlation_id)
        open_row(
            session,
            domain.F9,
            case_id=case_id,
            correlation_id=correlation_id,
            actor_type=domain.CENTRE,
            actor_id=actor.agency_id,
            region=actor.region,
            started_at=draft.admitted_at,
            fields=fields,
            now=now,
            detail=stay.stay_id,
        )
        stage(
            session,
            PersonAdmitted(
                **fields,
                stay_id=uuid.UUID(stay.stay_id),
                centre_agency_id=actor.agency_id,
                region=actor.region,
                admitted_at=draft.admitted_at,
                accompanying_minors=len(draft.children),
                basis=draft.basis.value,
            ),
            now=now,
        )
        session.commit()
        return stay


def end_stay(stay_id: str, *, left_at: datetime, actor: Actor, deps: CentreDeps) -> Stay:
    """Record the person leaving: the stay's month (F9) is met if it ended in time."""
    require_centre(actor)
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        stay = repository.get_stay(session, stay_id=stay_id)
        if stay is None or stay.centre_agency_id != actor.agency_id:
            raise UnknownStay(stay_id)
        domain.check_stay_end(
            ended=stay.left_at is not None, admitted_at=stay.admitted_at, left_at=left_at
        )
        if left_at > now:
            raise domain.InvalidInput("left_at", "is in the future")
        stay.left_at = left_at
        session.add(stay)
        fields = envelope(now, case_id=stay.case_id, correlation_id=stay.case_id)
        f9 = repository.get_obligation(
            session,
            obligation_id=domain.obligation_id(stay.case_id, "F9", stay.centre_agency_id, stay_id),
        )
        if f9 is not None and f9.status == "open":
            fields["correlation_id"] = uuid.UUID(f9.correlation_id)
            meet(session, f9, met_at=left_at, by_agency_id=actor.agency_id, fields=fields, now=now)
        session.commit()
        return stay
