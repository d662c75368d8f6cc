"""The reports the centre owes intake: a person admitted with minor children (p.26) is reported
with them, so intake opens the children's cases as minors who witnessed violence (Rules 38874)
and routing sends their notices. Kept in the same transaction as the admission, sent after the
commit and retried until intake takes it; then the children's case ids are read back."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.familycentre import records, repository
from services.familycentre.handlers.common import CentreDeps
from services.familycentre.tables import IntakeReport, Stay
from shared.db import unit_of_work

log = logging.getLogger(__name__)

PAYLOAD_FIELD = "intake_report.payload"
# Intake's answer: its status and body. The composition root calls intake over HTTP.
Poster = Callable[[dict[str, Any], str], tuple[int, dict[str, Any]]]
CaseReader = Callable[[str, str], tuple[int, dict[str, Any]]]
TokenFor = Callable[[Stay], str]
# A report intake refused as bad input (4xx) is tried this often, then left for an operator.
MAX_ATTEMPTS = 5
IDENTITY = ("full_name", "birth_date", "iin")


def report_body(stay: Stay, person: dict[str, Any], children: list[dict[str, Any]]) -> dict:
    """Return the report intake's public contract takes (reporter = the family centre)."""
    described = [{key: child[key] for key in IDENTITY if child.get(key)} for child in children]
    # A child the centre knows nothing of yet is counted, not described (intake opens a case
    # for an unidentified child from the count).
    kids = [child for child in described if child]
    return {
        "reporter": {
            "agency_type": "family_support_centre",
            "agency_id": stay.centre_agency_id,
            "region": stay.region,
        },
        # p.25: a personal application, or the person came on a body's referral.
        "channel": "application" if stay.basis == "personal_application" else "reception",
        "received_at": stay.admitted_at.isoformat(),
        "subject": {"kind": "adult", **{k: person[k] for k in IDENTITY if person.get(k)}},
        "concerns": ["domestic_violence"],
        # Children admitted with the person are minors who witnessed violence (Rules 38874
        # p.1, p.4, p.8): intake opens their cases, routing sends their notices.
        "children": kids,
        "accompanying_minors": len(children),
    }


def owe_report(
    session: Session,
    stay: Stay,
    *,
    person: dict[str, Any],
    children: list[dict[str, Any]],
    deps: CentreDeps,
    now: datetime,
) -> IntakeReport:
    """Keep a report for intake in the admission's transaction; sent after the commit."""
    report = IntakeReport(
        report_key=str(uuid.uuid4()),
        stay_id=stay.stay_id,
        created_at=now,
        payload=records.seal(deps.cipher, report_body(stay, person, children), field=PAYLOAD_FIELD)
        or "",
    )
    session.add(report)
    return report


def _children_of(case: dict[str, Any]) -> list[str]:
    return [
        str(link["case_id"])
        for link in case.get("linked_cases") or []
        if link.get("relation") == "accompanying_child"
    ]


def send_pending(
    deps: CentreDeps, *, post: Poster, read_case: CaseReader, token_for: TokenFor
) -> int:
    """Send the reports intake has not taken and read back the children's case ids; return how
    many reports are complete now."""
    with unit_of_work(deps.engine) as session:
        pending = [
            (r.report_key, r.stay_id, r.payload, r.sent_at is not None, r.intake_case_id)
            for r in repository.pending_reports(session, max_attempts=MAX_ATTEMPTS)
        ]
        stays = {stay_id: session.get(Stay, stay_id) for _, stay_id, *_ in pending}
        # Read after the session closes (its rollback would expire them otherwise).
        session.expunge_all()
    done = 0
    for key, stay_id, payload, sent, case_id in pending:
        stay = stays[stay_id]
        if stay is None:
            continue
        try:
            token = token_for(stay)
            if not sent:
                body = records.unseal(deps.cipher, payload, field=PAYLOAD_FIELD)
                status, answer = post(body, token)
            else:
                status, answer = read_case(case_id or "", token)
            error = None if status in (200, 201) else f"intake answered {status}"
        except Exception as failure:  # the network or intake is away: tried again next round
            status, answer, error = 0, {}, f"intake unreachable: {type(failure).__name__}"
        if error is not None:
            # Only the status goes to the log: the body may echo what was sent.
            log.warning("family centre report %s not taken: %s", key, error)
        if _record(deps, key, stay_id, sent=sent, status=status, answer=answer, error=error):
            done += 1
    return done


def _record(
    deps: CentreDeps,
    key: str,
    stay_id: str,
    *,
    sent: bool,
    status: int,
    answer: dict[str, Any],
    error: str | None,
) -> bool:
    """Record one attempt; return whether the report is complete (children's ids known)."""
    with unit_of_work(deps.engine) as session:
        report = session.get(IntakeReport, key)
        stay = session.get(Stay, stay_id)
        if report is None or stay is None:
            return False
        if error is not None:
            report.last_error = error[:200]
            if 400 <= status < 500:
                report.attempts += 1
            session.add(report)
            session.commit()
            return False
        if not sent:
            report.sent_at = deps.clock.now()
            report.attempts += 1
            report.last_error = None
            report.intake_case_id = str(answer.get("case_id") or "") or None
            report.intake_report_id = str(answer.get("report_id") or "") or None
            stay.intake_case_id = stay.intake_case_id or report.intake_case_id
            session.add_all([report, stay])
            session.commit()
            return False
        children = json.dumps(_children_of(answer))
        report.child_case_ids = children
        stay.child_case_ids = children
        session.add_all([report, stay])
        session.commit()
        return True
