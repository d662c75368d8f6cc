"""Carrying out a decision: open each duty, deliver each referral, escalate each gap."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.routing import domain, repository
from services.routing.domain import Party, ReferralStatus
from services.routing.handlers.common import RoutingDeps, decision_span, uuid_or_none
from services.routing.tables import Referral, RoutingCase, RoutingObligation
from shared.contracts.envelope import agency_subject
from shared.contracts.obligations import ObligationFulfilled, ObligationOpened
from shared.contracts.routing import (
    CarriedRow,
    ReferralEscalated,
    ReferralIssued,
    ReferralPurpose,
)
from shared.outbox import stage

log = logging.getLogger(__name__)


def case_facts(case: RoutingCase) -> domain.CaseFacts:
    """Return what the domain reads of a case routing keeps."""
    return domain.CaseFacts(
        case_id=case.case_id,
        region=case.region,
        subject_kind=case.subject_kind,
        concerns=frozenset(json.loads(case.concerns)),
        flags=frozenset(json.loads(case.flags)),
        child_removed_at=case.child_removed_at,
    )


def carry_out(
    session: Session,
    duties: Iterable[domain.Duty],
    *,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
) -> None:
    """Open every duty of a decision, delivering and escalating where it says."""
    duties = list(duties)
    carried = _carried_rows(duties)
    escalated: set[tuple[str, str | None]] = set()
    for duty in duties:
        told = duty.delivery.agency if duty.delivery else None
        with decision_span(
            deps,
            duty.code,
            decision=duty.kind.value,
            case_id=case.case_id,
            agency_type=told.agency_type if told else duty.actor.agency_type,
            agency_id=told.agency_id if told else duty.actor.agency_id,
            legal_basis=duty.legal_basis,
            obligation_id=duty.obligation_id,
            actor_agency_type=duty.actor.agency_type,
            actor_agency_id=duty.actor.agency_id,
            target_agency_type=duty.target.agency_type if duty.target else None,
            target_agency_id=duty.target.agency_id if duty.target else None,
            referral_id=duty.delivery.referral_id if duty.delivery else None,
            unresolved_agency_type=duty.unresolved,
        ):
            _open(session, duty, case=case, report_id=report_id, envelope=envelope, now=now)
            if duty.delivery is not None:
                rows = carried.get(duty.delivery.referral_id, ())
                _deliver(session, duty, duty.delivery, case, report_id, envelope, deps, now, rows)
            if duty.unresolved is not None:
                mark = (duty.escalation.referral_id if duty.escalation else "", duty.unresolved)
                if mark not in escalated:
                    escalated.add(mark)
                    rows = carried.get(mark[0], ())
                    _escalate_gap(session, duty, case, report_id, envelope, deps, rows)
    # The unique (case, duty) constraint fails here, in the decision, if a twin raced us: once
    # for the decision's duties, not once each (a flush per duty was a quarter of routing).
    session.flush()


def _carried_rows(duties: Sequence[domain.Duty]) -> dict[str, tuple[CarriedRow, ...]]:
    """Return, per referral of a decision, every row it carries with its own obligation."""
    carried: dict[str, list[CarriedRow]] = {}
    for duty in duties:
        referral_id = duty.delivery.referral_id if duty.delivery else duty.carried_by
        escalation_id = duty.escalation.referral_id if duty.escalation else None
        for carrier in {referral_id, escalation_id} - {None}:
            carried.setdefault(str(carrier), []).append(
                CarriedRow(
                    code=duty.code,
                    legal_basis=duty.legal_basis,
                    obligation_id=uuid.UUID(duty.obligation_id),
                )
            )
    return {referral_id: tuple(rows) for referral_id, rows in carried.items()}


def _deliver(
    session: Session,
    duty: domain.Duty,
    delivery: domain.Delivery,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
    rows: Sequence[CarriedRow] = (),
) -> Referral:
    """Deliver a referral that carries a duty (or escalates it) to the agency it names."""
    return issue(
        session,
        delivery,
        case_id=case.case_id,
        region=case.region,
        report_id=report_id,
        code=duty.code,
        legal_basis=duty.legal_basis,
        sender=duty.actor,
        obligation_id=duty.obligation_id,
        envelope=envelope,
        deps=deps,
        now=now,
        rows=rows,
    )


def _open(
    session: Session,
    duty: domain.Duty,
    *,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    now: datetime,
) -> None:
    obligation = RoutingObligation(
        obligation_id=duty.obligation_id,
        case_id=case.case_id,
        duty_key=duty.key,
        report_id=report_id,
        code=duty.code,
        legal_basis=duty.legal_basis,
        kind=duty.kind.value,
        actor_agency_type=duty.actor.agency_type,
        actor_agency_id=duty.actor.agency_id,
        target_agency_type=duty.target.agency_type if duty.target else None,
        target_agency_id=duty.target.agency_id if duty.target else None,
        region=case.region,
        term=duty.term,
        started_at=duty.started_at,
        via_referral_id=duty.via_referral_id,
    )
    stage(
        session,
        ObligationOpened(
            **envelope,
            obligation_id=uuid.UUID(duty.obligation_id),
            code=duty.code,
            legal_basis=duty.legal_basis,
            actor_agency_type=duty.actor.agency_type,
            actor_agency_id=duty.actor.agency_id,
            target_agency_type=obligation.target_agency_type,
            target_agency_id=obligation.target_agency_id,
            # "none" where the text sets no term: deadlines tracks it open, with no due time.
            term=duty.term,
            started_at=duty.started_at,
            region=case.region,
        ),
        now=now,
    )
    if duty.met_by_platform:
        # A transfer that needs no one's judgement: the platform made it, at delivery.
        obligation.status = "met"
        obligation.met_at = now
        obligation.met_by_platform = True
        stage_met(session, envelope, duty.obligation_id, duty.code, by_agency_id=None, now=now)
    session.add(obligation)


def stage_met(
    session: Session,
    envelope: dict[str, Any],
    obligation_id: str,
    code: str,
    *,
    by_agency_id: str | None,
    now: datetime,
) -> None:
    """Stage that an obligation was met: by an agency, or by the platform where none is named."""
    stage(
        session,
        ObligationFulfilled(
            **envelope,
            obligation_id=uuid.UUID(obligation_id),
            code=code,
            met_at=now,
            met_by_agency_id=by_agency_id,
            met_by_platform=by_agency_id is None,
        ),
        now=now,
    )


def issue(
    session: Session,
    delivery: domain.Delivery,
    *,
    case_id: str,
    region: str,
    report_id: str | None,
    code: str,
    legal_basis: str,
    sender: Party,
    obligation_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    now: datetime,
    replaces: Referral | None = None,
    escalation_obligation_id: str | None = None,
    rows: Sequence[CarriedRow] = (),
) -> Referral:
    """Deliver a referral to its agency (once: a replayed delivery returns the first).

    `rows` are every row it carries (its own alone where none is given).
    """
    existing = repository.get_referral(session, referral_id=delivery.referral_id)
    if existing is not None:
        return existing
    agency = delivery.agency
    if not rows:
        rows = (
            CarriedRow(
                code=code, legal_basis=legal_basis, obligation_id=uuid_or_none(obligation_id)
            ),
        )
    # What the referral row and the event that delivers it both say.
    route: dict[str, Any] = {
        "code": code,
        "legal_basis": legal_basis,
        "from_agency_type": sender.agency_type,
        "from_agency_id": sender.agency_id,
        "to_agency_type": agency.agency_type,
        "to_agency_id": agency.agency_id,
        "region": region,
        "issued_at": now,
    }
    referral = Referral(
        **route,
        referral_id=delivery.referral_id,
        case_id=case_id,
        report_id=report_id,
        status=ReferralStatus.ISSUED.value,
        purpose=delivery.purpose,
        role=delivery.role,
        chain_id=replaces.chain_id if replaces is not None else delivery.referral_id,
        replaces_referral_id=replaces.referral_id if replaces is not None else None,
        obligation_id=obligation_id,
        escalation_obligation_id=escalation_obligation_id,
        ack_due_at=now + deps.ack_timeout,
        rows=json.dumps([row.model_dump(mode="json") for row in rows]),
    )
    session.add(referral)
    issued = ReferralIssued(
        **envelope,
        **route,
        referral_id=uuid.UUID(referral.referral_id),
        report_id=uuid_or_none(report_id),
        purpose=ReferralPurpose(delivery.purpose),
        acting_for=delivery.role if delivery.role != agency.agency_type else None,
        obligation_id=uuid_or_none(obligation_id),
        replaces_referral_id=uuid_or_none(referral.replaces_referral_id),
        escalation_obligation_id=uuid_or_none(escalation_obligation_id),
        ack_due_at=referral.ack_due_at,
        rows=tuple(rows),
    )
    stage(session, issued, now=now)
    stage(session, issued, now=now, subject=agency_subject(agency.agency_id, "referral_issued"))
    return referral


def _escalate_gap(
    session: Session,
    duty: domain.Duty,
    case: RoutingCase,
    report_id: str | None,
    envelope: dict[str, Any],
    deps: RoutingDeps,
    rows: Sequence[CarriedRow] = (),
) -> None:
    now = envelope["occurred_at"]
    if duty.escalation is None:
        # Not even the last resort is in the directory: the open obligation will breach and
        # deadlines escalates it; this line makes the gap visible at once.
        log.error(
            "routing gap: row %s has no %s in %s and nobody to escalate to",
            duty.code,
            duty.unresolved,
            case.region,
        )
        return
    referral = _deliver(session, duty, duty.escalation, case, report_id, envelope, deps, now, rows)
    stage(
        session,
        ReferralEscalated(
            **envelope,
            new_referral_id=uuid.UUID(referral.referral_id),
            declined_referral_id=None,
            code=duty.code,
            cause="no_agency",
            unresolved_agency_type=str(duty.unresolved),
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            region=case.region,
        ),
        now=now,
    )


def arrival_duties(
    session: Session, case: RoutingCase, referral: Referral, *, rules: domain.Rules, now: datetime
) -> list[domain.Duty]:
    """Return what an agency owes on receipt when a referral outside a report reaches it."""
    decision = domain.decide_on_arrival(
        case=case_facts(case),
        reporter=domain.Reporter(
            Party(case.reporter_agency_type, case.reporter_agency_id), case.received_at
        ),
        arrival=domain.Receiver(
            referral.role,
            Party(referral.to_agency_type, referral.to_agency_id),
            now,
            referral.referral_id,
        ),
        rules=rules,
        directory=repository.directory_for(session, region=case.region),
        now=now,
        applied=repository.duty_keys(session, case_id=case.case_id),
    )
    return list(decision.duties)
