"""Reports: route the first report of a case, and what a later report of it adds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session

from services.routing import domain, repository
from services.routing.domain import Party
from services.routing.handlers.common import CaseNotYetRouted, RoutingDeps, new_envelope
from services.routing.handlers.delivery import carry_out, case_facts
from services.routing.handlers.unrouted import alert_if_unrouted
from services.routing.tables import RoutingCase
from shared.contracts.envelope import Event
from shared.contracts.intake import Flags, ReportJoined, ReportReceived
from shared.db import unit_of_work
from shared.inbox import claim


def _flags(flags: Flags, *, under_three: bool = False) -> set[str]:
    names = {name for name, value in flags.model_dump().items() if value is True}
    if flags.accompanying_minors > 0:
        names.add("accompanying_minors")
    if under_three:
        names.add("under_three")
    return names


def _reporter(event: ReportReceived | ReportJoined) -> domain.Reporter:
    return domain.Reporter(
        Party(event.reporter_agency_type, event.reporter_agency_id),
        event.received_at,
        str(event.report_id),
    )


def on_report_received(event: ReportReceived, *, deps: RoutingDeps) -> None:
    """Open every row the report brings, delivering the case wherever a row transfers it."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-report_received", event_id=str(event.event_id), now=now
        ):
            return
        case_id = str(event.case_id)
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            case = RoutingCase(
                case_id=case_id,
                region=event.region,
                subject_kind=event.subject_kind.value,
                concerns=json.dumps(sorted(c.value for c in event.concerns)),
                flags=json.dumps(sorted(_flags(event.flags, under_three=event.under_three))),
                reporter_agency_type=event.reporter_agency_type,
                reporter_agency_id=event.reporter_agency_id,
                received_at=event.received_at,
                first_report_id=str(event.report_id),
                opened_at=now,
                child_removed_at=event.flags.child_removed_at,
            )
            session.add(case)
            session.flush()
        _route(session, case, _reporter(event), cause=event, deps=deps, now=now)
        alert_if_unrouted(session, case, event, deps=deps, now=now)
        session.commit()


def on_report_joined(event: ReportJoined, *, deps: RoutingDeps) -> None:
    """Add only the rows a later report's new facts bring; nobody is told the case twice."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-report_joined", event_id=str(event.event_id), now=now
        ):
            return
        case = repository.get_case(session, case_id=str(event.case_id))
        if case is None:
            # The first report is routed by another consumer; this one waits for it.
            raise CaseNotYetRouted(str(event.case_id))
        concerns = set(json.loads(case.concerns)) | {c.value for c in event.concerns}
        flags = set(json.loads(case.flags)) | _flags(event.flags, under_three=event.under_three)
        case.concerns = json.dumps(sorted(concerns))
        case.flags = json.dumps(sorted(flags))
        if case.child_removed_at is None:
            # The removal may be told by a later report (Guide p.12.2, p.12.4 run from it).
            case.child_removed_at = event.flags.child_removed_at
        session.add(case)
        _route(session, case, _reporter(event), cause=event, deps=deps, now=now)
        session.commit()


def _earlier_receivers(
    session: Session, case: RoutingCase, directory: Sequence[domain.Agency], rules: domain.Rules
) -> list[domain.Receiver]:
    first = Party(case.reporter_agency_type, case.reporter_agency_id)
    receivers = [
        domain.Receiver(role, first, case.received_at, None, earlier=True, is_reporter=True)
        for role in domain.roles_of(first.agency_type, case.region, directory, rules)
    ]
    for referral in repository.holding_referrals(session, case_id=case.case_id):
        receivers.append(
            domain.Receiver(
                referral.role or referral.to_agency_type,
                Party(referral.to_agency_type, referral.to_agency_id),
                referral.issued_at,
                referral.referral_id,
                earlier=True,
            )
        )
    return receivers


def _route(
    session: Session,
    case: RoutingCase,
    reporter: domain.Reporter,
    *,
    cause: Event,
    deps: RoutingDeps,
    now: datetime,
) -> None:
    directory = repository.directory_for(session, region=case.region)
    decision = domain.decide(
        case=case_facts(case),
        reporter=reporter,
        rules=deps.rules,
        directory=directory,
        now=now,
        earlier=_earlier_receivers(session, case, directory, deps.rules),
        applied=repository.duty_keys(session, case_id=case.case_id),
    )
    carry_out(
        session,
        decision.duties,
        case=case,
        report_id=reporter.report_id,
        envelope=new_envelope(now, cause=cause),
        deps=deps,
        now=now,
    )
