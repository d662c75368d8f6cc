"""A new case routing opened nothing for: an alert, never silence."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from services.routing import repository
from services.routing.domain.rows import local_date
from services.routing.handlers.common import RoutingDeps, new_envelope
from services.routing.tables import RoutingCase
from shared.contracts.alerts import ReportUnrouted, UnroutedReason
from shared.contracts.intake import ReportReceived
from shared.outbox import stage


def alert_if_unrouted(
    session: Session, case: RoutingCase, event: ReportReceived, *, deps: RoutingDeps, now: datetime
) -> bool:
    """Stage report_unrouted, in the caller's transaction, when the case has no row at all."""
    case_id = case.case_id
    if repository.duty_keys(session, case_id=case_id) or repository.referrals_of_case(
        session, case_id=case_id
    ):
        return False
    in_force = deps.rules.in_force(local_date(event.received_at))
    reason = UnroutedReason.NO_ROW_APPLIES if in_force else UnroutedReason.NO_ROW_IN_FORCE
    alert = ReportUnrouted(
        **new_envelope(now, cause=event),
        report_id=event.report_id,
        region=event.region,
        subject_kind=event.subject_kind,
        received_at=event.received_at,
        reason=reason,
    )
    stage(session, alert, now=now)
    return True
