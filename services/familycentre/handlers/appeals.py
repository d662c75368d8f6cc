"""Appeals (p.12-14): recorded from five channels, answered, assessed, their needs determined.

Each step is one transaction: the appeal's state, the obligations it opens or meets (F1-F4),
and what routing must deliver (a redirect), staged in the outbox together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from services.familycentre import domain, records, repository
from services.familycentre.domain import Channel, ResponseKind, Stage
from services.familycentre.handlers.common import (
    Actor,
    CentreDeps,
    UnknownAgency,
    UnknownAppeal,
    envelope,
    meet,
    open_of,
    open_row,
    require_centre,
    row_of_appeal,
)
from services.familycentre.tables import Appeal
from shared.contracts.familycentre import AppealReceived, CentreDelivery
from shared.contracts.routing import ReferralIssued
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage

PERSON_FIELD = "appeal.person"
SUMMARY_FIELD = "appeal.summary"
ASSESSMENT_FIELD = "appeal.assessment"
NEEDS_FIELD = "appeal.needs"


@dataclass(frozen=True)
class AppealDraft:
    """What an appeal records: its channel, when, the person (encrypted) and the flags."""

    channel: Channel
    received_at: datetime
    person: dict[str, Any] | None
    summary: str | None
    consent_given_on: date | None
    threat_to_life: bool
    domestic_violence: bool
    case_id: str | None = None


def _fields(appeal: Appeal, now: datetime) -> dict[str, Any]:
    return envelope(now, case_id=appeal.case_id, correlation_id=appeal.correlation_id)


def _open_first_rows(
    session: Session, appeal: Appeal, *, fields: dict[str, Any], now: datetime
) -> None:
    """Open F1 (met by recording it), F2 and F3 (p.13/p.14), and F7 on a direct threat."""
    channel = Channel(appeal.channel)
    common: dict[str, Any] = {
        "case_id": appeal.case_id,
        "correlation_id": appeal.correlation_id,
        "actor_type": domain.CENTRE,
        "actor_id": appeal.centre_agency_id,
        "region": appeal.region,
        "started_at": appeal.received_at,
        "fields": fields,
        "now": now,
        "detail": appeal.appeal_id,
    }
    f1 = open_row(session, domain.f1(channel), **common)
    if f1.status == "open":
        meet(
            session,
            f1,
            met_at=appeal.recorded_at,
            by_agency_id=appeal.centre_agency_id,
            fields=fields,
            now=now,
        )
    open_row(session, domain.f2(channel), **common)
    open_row(session, domain.f3(channel, threat_to_life=appeal.threat_to_life), **common)
    if appeal.threat_to_life and open_of(session, case_id=appeal.case_id, code="F7") is None:
        # p.22: the mobile group is engaged at once; routing's F7 (a report with life_threat)
        # is the same duty, so the centre opens its own only where routing's is not there.
        open_row(session, domain.F7, **{**common, "detail": ""})


def _stage_received(
    session: Session, appeal: Appeal, fields: dict[str, Any], now: datetime
) -> None:
    stage(
        session,
        AppealReceived(
            **fields,
            appeal_id=uuid.UUID(appeal.appeal_id),
            centre_agency_id=appeal.centre_agency_id,
            channel=appeal.channel,
            legal_basis=domain.f1(Channel(appeal.channel)).legal_basis,
            region=appeal.region,
            received_at=appeal.received_at,
            threat_to_life=appeal.threat_to_life,
        ),
        now=now,
    )


def record_appeal(draft: AppealDraft, *, actor: Actor, deps: CentreDeps) -> Appeal:
    """Record an appeal at the caller's centre and open F1 (met), F2, F3 (F7 on a threat)."""
    require_centre(actor)
    now = deps.clock.now()
    domain.check_appeal(
        draft.channel,
        consent_given_on=draft.consent_given_on,
        received_at=draft.received_at,
        now=now,
    )
    if actor.region is None:
        raise domain.InvalidInput("region", "the centre's token names no region")
    appeal_id = str(uuid.uuid4())
    case_id = draft.case_id or str(uuid.uuid4())
    with unit_of_work(deps.engine) as session:
        appeal = Appeal(
            appeal_id=appeal_id,
            case_id=case_id,
            correlation_id=case_id,
            centre_agency_id=actor.agency_id,
            region=actor.region,
            channel=draft.channel.value,
            received_at=draft.received_at,
            recorded_at=now,
            recorded_by=actor.person_id,
            threat_to_life=draft.threat_to_life,
            domestic_violence=draft.domestic_violence,
            consent_given_on=draft.consent_given_on,
            person=records.seal(deps.cipher, draft.person, field=PERSON_FIELD),
            summary=records.seal(deps.cipher, draft.summary, field=SUMMARY_FIELD),
        )
        session.add(appeal)
        fields = _fields(appeal, now)
        _open_first_rows(session, appeal, fields=fields, now=now)
        _stage_received(session, appeal, fields, now)
        session.commit()
        return appeal


def on_referral_issued(event: ReferralIssued, *, deps: CentreDeps) -> None:
    """A case routing delivered to a family support centre (R13 and others) is an appeal from a
    body (p.12.4): F1 on receipt, then F2 and F3 as for any appeal (p.14)."""
    if event.to_agency_type != domain.CENTRE or event.case_id is None:
        return
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="familycentre-referral_issued", event_id=str(event.event_id), now=now
        ):
            return
        if repository.appeal_of_referral(session, referral_id=str(event.referral_id)):
            session.commit()
            return
        appeal = Appeal(
            appeal_id=domain.derived_id("referral", str(event.referral_id)),
            case_id=str(event.case_id),
            correlation_id=str(event.correlation_id),
            centre_agency_id=event.to_agency_id,
            region=event.region,
            channel=Channel.BODY_OR_PERSON.value,
            received_at=event.issued_at,
            recorded_at=now,
            recorded_by="platform",
            referral_id=str(event.referral_id),
        )
        session.add(appeal)
        fields = envelope(now, cause=event, case_id=appeal.case_id, correlation_id=appeal.case_id)
        _open_first_rows(session, appeal, fields=fields, now=now)
        _stage_received(session, appeal, fields, now)
        session.commit()


def held_appeal(session: Session, appeal_id: str, actor: Actor) -> Appeal:
    """Return an appeal of the caller's centre (404 for any other)."""
    require_centre(actor)
    appeal = repository.get_appeal(session, appeal_id=appeal_id)
    if appeal is None or appeal.centre_agency_id != actor.agency_id:
        raise UnknownAppeal(appeal_id)
    return appeal


def _meet_row(
    session: Session,
    appeal: Appeal,
    code: str,
    *,
    at: datetime,
    fields: dict[str, Any],
    now: datetime,
) -> None:
    row = row_of_appeal(session, appeal, code)
    if row is not None and row.status == "open":
        meet(session, row, met_at=at, by_agency_id=appeal.centre_agency_id, fields=fields, now=now)


def active_agency(session: Session, agency_id: str) -> tuple[str, str | None]:
    """Return an active agency's type and region, or refuse (422 by the route)."""
    agency = repository.get_agency(session, agency_id=agency_id)
    if agency is None or not agency.active:
        raise UnknownAgency(agency_id)
    return agency.agency_type, agency.region


def first_response(
    appeal_id: str,
    *,
    kind: ResponseKind,
    redirect_to: str | None,
    done_at: datetime,
    actor: Actor,
    deps: CentreDeps,
) -> Appeal:
    """Record the consultation and/or redirect (F2); routing delivers a redirect."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        domain.check_first_response(
            kind,
            redirect_to,
            responded=appeal.responded_at is not None,
            done_at=done_at,
            since=appeal.received_at,
        )
        if done_at > now:
            raise domain.InvalidInput("done_at", "is in the future")
        fields = _fields(appeal, now)
        if redirect_to is not None:
            try:
                active_agency(session, redirect_to)
            except UnknownAgency:
                raise domain.InvalidInput(
                    "redirect_to_agency_id", "is not an active agency of the directory"
                ) from None
            f2 = row_of_appeal(session, appeal, "F2")
            stage(
                session,
                CentreDelivery(
                    **fields,
                    delivery_id=uuid.UUID(domain.derived_id("redirect", appeal.appeal_id)),
                    what="redirect",
                    code="F2",
                    legal_basis=domain.f2(Channel(appeal.channel)).legal_basis,
                    obligation_id=uuid.UUID(
                        f2.obligation_id if f2 else domain.derived_id("F2", appeal.appeal_id)
                    ),
                    from_agency_id=appeal.centre_agency_id,
                    to_agency_id=redirect_to,
                    region=appeal.region,
                ),
                now=now,
            )
        appeal.response_kind = kind.value
        appeal.redirected_to = redirect_to
        appeal.responded_at = done_at
        session.add(appeal)
        _meet_row(session, appeal, "F2", at=done_at, fields=fields, now=now)
        session.commit()
        return appeal


def record_assessment(
    appeal_id: str,
    *,
    difficult_situation: bool,
    findings: str,
    emergency_measures: tuple[str, ...],
    done_at: datetime,
    actor: Actor,
    deps: CentreDeps,
) -> Appeal:
    """Record the primary assessment (F3); a difficult life situation opens F4 (p.13.3)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        domain.check_assessment(
            Stage(appeal.stage),
            threat_to_life=appeal.threat_to_life,
            emergency_measures=emergency_measures,
            done_at=done_at,
            since=appeal.received_at,
        )
        if done_at > now:
            raise domain.InvalidInput("done_at", "is in the future")
        fields = _fields(appeal, now)
        appeal.assessment = records.seal(
            deps.cipher,
            {"findings": findings, "emergency_measures": list(emergency_measures)},
            field=ASSESSMENT_FIELD,
        )
        appeal.assessed_at = done_at
        appeal.difficult_situation = difficult_situation
        appeal.stage = Stage.ASSESSED.value if difficult_situation else Stage.CLOSED.value
        session.add(appeal)
        _meet_row(session, appeal, "F3", at=done_at, fields=fields, now=now)
        if difficult_situation:
            open_row(
                session,
                domain.f4(Channel(appeal.channel)),
                case_id=appeal.case_id,
                correlation_id=appeal.correlation_id,
                actor_type=domain.CENTRE,
                actor_id=appeal.centre_agency_id,
                region=appeal.region,
                started_at=done_at,
                fields=fields,
                now=now,
                detail=appeal.appeal_id,
            )
        session.commit()
        return appeal


def record_needs(
    appeal_id: str, *, needs: dict[str, str], done_at: datetime, actor: Actor, deps: CentreDeps
) -> Appeal:
    """Record the needs (F4); the individual work plan is due within the year (F5, p.15)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        appeal = held_appeal(session, appeal_id, actor)
        domain.check_needs(Stage(appeal.stage), done_at=done_at, since=appeal.received_at)
        if not needs:
            raise domain.InvalidInput("needs", "name at least one need")
        if done_at > now:
            raise domain.InvalidInput("done_at", "is in the future")
        fields = _fields(appeal, now)
        appeal.needs = records.seal(deps.cipher, needs, field=NEEDS_FIELD)
        appeal.needs_at = done_at
        appeal.stage = Stage.NEEDS_DETERMINED.value
        session.add(appeal)
        _meet_row(session, appeal, "F4", at=done_at, fields=fields, now=now)
        open_row(
            session,
            domain.F5,
            case_id=appeal.case_id,
            correlation_id=appeal.correlation_id,
            actor_type=domain.CENTRE,
            actor_id=appeal.centre_agency_id,
            region=appeal.region,
            started_at=done_at,
            fields=fields,
            now=now,
            detail=appeal.appeal_id,
        )
        session.commit()
        return appeal
