"""Routing's handlers: load, ask the domain, stage events in the outbox, commit."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from opentelemetry import trace
from sqlalchemy import Engine
from sqlmodel import Session

from services.routing import catalogue, domain, repository
from services.routing.tables import AgencyRow, Referral
from shared.clock import Clock
from shared.contracts.envelope import agency_subject
from shared.contracts.intake import ReportReceived
from shared.contracts.obligations import ObligationFulfilled, ObligationOpened
from shared.contracts.routing import ReferralIssued
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

log = logging.getLogger(__name__)

# Ids derived from the report, row and target: replaying an event yields the same ids.
IDS = uuid.UUID("5b0e6c1e-7d0f-4a53-9c1b-6a2f0e0a7a11")


@dataclass
class RoutingDeps:
    """What routing's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer


def seed_directory(*, deps: RoutingDeps, path: Path) -> int:
    """Load the shipped directory into an empty database; return how many agencies were added."""
    with unit_of_work(deps.engine) as session:
        if repository.count_agencies(session):
            return 0
        data = json.loads(path.read_text(encoding="utf-8"))
        for entry in data["agencies"]:
            session.add(AgencyRow(**entry))
        session.commit()
        return len(data["agencies"])


def on_report_received(event: ReportReceived, *, deps: RoutingDeps) -> None:
    """Deliver a new case to every agency the catalogue names, each transfer with its row."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-report_received", event_id=str(event.event_id), now=now
        ):
            return
        facts = domain.ReportFacts(
            case_id=str(event.case_id),
            report_id=str(event.report_id),
            reporter_agency_type=event.reporter_agency_type,
            reporter_agency_id=event.reporter_agency_id,
            region=event.region,
            concerns=frozenset(c.value for c in event.concerns),
            flags=frozenset(k for k, v in event.flags.model_dump().items() if v is True),
            received_at=event.received_at,
        )
        directory = repository.directory_for(session, region=event.region)
        decision = domain.decide(facts, catalogue.load(), directory)
        for notice in decision.notices:
            _deliver(session, event, notice, now=now, tracer=deps.tracer)
        for gap in decision.gaps:
            # No agency of the type or its fallback in the region: loud, never silent.
            log.error(
                "routing gap: row %s has no %s in %s", gap.code, gap.target_type, event.region
            )
        session.commit()


def _deliver(
    session: Session,
    event: ReportReceived,
    notice: domain.Notice,
    *,
    now: datetime,
    tracer: trace.Tracer,
) -> None:
    key = f"{event.report_id}|{notice.code}|{notice.target_type}"
    referral_id = uuid.uuid5(IDS, f"referral|{key}")
    obligation_id = uuid.uuid5(IDS, f"obligation|{key}")
    with tracer.start_as_current_span(f"routing.decide {notice.code}") as span:
        span.set_attribute(CASE_ID, str(event.case_id))
        span.set_attribute(OBLIGATION_CODE, notice.code)
        span.set_attribute(AGENCY_TYPE, notice.target_type)
        span.set_attribute(AGENCY_ID, notice.target.agency_id)
        span.set_attribute("qorgau.legal_basis", notice.legal_basis)
        span.set_attribute("qorgau.referral_id", str(referral_id))
        issued_at = now
        session.add(
            Referral(
                referral_id=str(referral_id),
                case_id=str(event.case_id),
                report_id=str(event.report_id),
                code=notice.code,
                legal_basis=notice.legal_basis,
                from_agency_type=event.reporter_agency_type,
                from_agency_id=event.reporter_agency_id,
                to_agency_type=notice.target_type,
                to_agency_id=notice.target.agency_id,
                region=event.region,
                issued_at=issued_at,
            )
        )
        follow = {**event.follow(), "producer": "routing", "occurred_at": issued_at}
        issued = ReferralIssued(
            **follow,
            referral_id=referral_id,
            report_id=event.report_id,
            code=notice.code,
            legal_basis=notice.legal_basis,
            from_agency_type=event.reporter_agency_type,
            from_agency_id=event.reporter_agency_id,
            to_agency_type=notice.target_type,
            to_agency_id=notice.target.agency_id,
            region=event.region,
            issued_at=issued_at,
        )
        stage(session, issued, now=issued_at)
        stage(
            session,
            issued,
            now=issued_at,
            subject=agency_subject(notice.target.agency_id, "referral_issued"),
        )
        stage(
            session,
            ObligationOpened(
                **follow,
                obligation_id=obligation_id,
                code=notice.code,
                legal_basis=notice.legal_basis,
                actor_agency_type=event.reporter_agency_type,
                actor_agency_id=event.reporter_agency_id,
                target_agency_type=notice.target_type,
                target_agency_id=notice.target.agency_id,
                term=notice.term,
                # The reporter's term starts when it learned of the case (public contract).
                started_at=event.received_at,
                region=event.region,
            ),
            now=issued_at,
        )
        # A transfer that needs no one's judgement is made by the platform, and so met by it.
        stage(
            session,
            ObligationFulfilled(
                **follow,
                obligation_id=obligation_id,
                code=notice.code,
                # The reporter met p.8 when it reported; the platform made the transfer for it.
                met_at=event.occurred_at,
                met_by_agency_id=None,
                met_by_platform=True,
            ),
            now=issued_at,
        )
