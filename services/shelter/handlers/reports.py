"""Reports the shelter owes intake (children who came with a parent; a refusal to go to the
police, p.35), sent after the commit that owed them and retried until intake takes them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from sqlmodel import Session

from services.shelter import repository
from services.shelter.handlers.common import ShelterDeps
from services.shelter.tables import IntakeReport, ShelterStay
from shared.db import unit_of_work

log = logging.getLogger(__name__)

# Intake's answer: its status and body. The composition root posts over HTTP.
Poster = Callable[[dict[str, Any], str], tuple[int, dict[str, Any]]]
TokenFor = Callable[[ShelterStay], str]
# A report intake refused as bad input (4xx) is tried this often, then left for an operator.
MAX_ATTEMPTS = 5


def send_pending(deps: ShelterDeps, *, post: Poster, token_for: TokenFor) -> int:
    """Send the reports intake has not taken; return how many it took."""
    with unit_of_work(deps.engine) as session:
        pending = [
            (report.report_key, report.stay_id, report.payload, report.attempts)
            for report in repository.pending_reports(session)
        ]
        stays = {
            stay_id: repository.get_stay(session, stay_id=stay_id) for _, stay_id, _, _ in pending
        }
        # Read after the session closes (its rollback would expire them otherwise).
        session.expunge_all()
    taken = 0
    for key, stay_id, payload, attempts in pending:
        stay = stays[stay_id]
        if stay is None or attempts >= MAX_ATTEMPTS:
            continue
        body = json.loads(deps.cipher.decrypt(payload, field="intake_report.payload") or "{}")
        try:
            status, answer = post(body, token_for(stay))
            error = None if status in (200, 201) else f"intake answered {status}"
        except Exception as failure:  # the network or intake is away: tried again next round
            status, answer, error = 0, {}, f"intake unreachable: {type(failure).__name__}"
        with unit_of_work(deps.engine) as session:
            report = session.get(IntakeReport, key)
            if report is None or report.sent_at is not None:
                continue
            if error is None:
                now = deps.clock.now()
                case_id = str(answer.get("case_id") or "") or None
                repository.mark_report(
                    session,
                    report,
                    sent_at=now,
                    error=None,
                    case_id=case_id,
                    report_id=str(answer.get("report_id") or "") or None,
                )
                held = repository.get_stay(session, stay_id=stay_id)
                if held is not None and held.intake_case_id is None and case_id:
                    held.intake_case_id = case_id
                    session.add(held)
                _children_cases(session, report, answer)
                taken += 1
            else:
                # Only the status goes to the log: the body may echo what was sent.
                log.warning("shelter report %s not taken: %s", key, error)
                if 400 <= status < 500:
                    repository.mark_report(session, report, sent_at=None, error=error)
                else:
                    report.last_error = error
                    session.add(report)
            session.commit()
    return taken


def _children_cases(session: Session, report: IntakeReport, answer: dict[str, Any]) -> None:
    """Give each child's stay the case intake opened for the child (Rules 38874 p.1, p.4, p.8).

    Intake answers the children's cases in the order the report named them, which is the
    order the shelter kept their stays in; a stay that has its case already keeps it.
    """
    stay_ids = json.loads(report.child_stay_ids or "[]")
    case_ids = [str(case_id) for case_id in answer.get("child_case_ids") or []]
    if len(case_ids) != len(stay_ids):
        # An intake that does not answer them (or counts otherwise): nothing is guessed.
        log.warning(
            "shelter report %s: %d children, %d cases",
            report.report_key,
            len(stay_ids),
            len(case_ids),
        )
        return
    for stay_id, case_id in zip(stay_ids, case_ids, strict=True):
        child = repository.get_stay(session, stay_id=stay_id)
        if child is not None and child.case_id is None:
            child.case_id = case_id
            child.intake_case_id = case_id
            session.add(child)
