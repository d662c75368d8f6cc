"""Intake's read side: what a caller may see of a case and its reports (Rules 38874 p.33-34).

Each read checks the caller's role and relation to the case; a refusal, and every read of
personal data, is recorded in the audit log before anything leaves the service.
"""

from __future__ import annotations

import json
import re
from typing import Any

from opentelemetry import trace

from services.intake import children as witnesses
from services.intake import domain, duplicates, repository
from services.intake.handlers import IntakeDeps
from services.intake.tables import Report
from shared.auth import AGENCY_ROLES, Principal, Role
from shared.clock import ALMATY
from shared.db import unit_of_work
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID

# A purpose is a short code ("offence_check", "case_management"), never free text: free text
# could carry personal data into the audit log.
PURPOSE = re.compile(r"^[a-z][a-z0-9_.:-]{2,79}$")


class NotFound(LookupError):
    """The case or report does not exist."""


# An operator sees any case's summary (no personal data); an agency sees the cases it relates to.
CASE_READERS = AGENCY_ROLES | {Role.OPERATOR}


def check_purpose(purpose: str | None) -> str:
    """Return the purpose code of a read of personal data, or raise InvalidReport."""
    if not purpose or not PURPOSE.match(purpose):
        raise domain.InvalidReport(
            {"purpose": "a purpose code is required, e.g. offence_check (a-z, 0-9, _ . : -)"}
        )
    return purpose


def _mark_span(case_id: str, who: Principal) -> None:
    span = trace.get_current_span()
    span.set_attribute(CASE_ID, case_id)
    span.set_attribute(AGENCY_ID, who.agency_id)
    span.set_attribute(AGENCY_TYPE, who.agency_type)


def _report_summary(report: Report) -> dict[str, Any]:
    return {
        "report_id": report.report_id,
        "reporter_agency_type": report.reporter_agency_type,
        "reporter_agency_id": report.reporter_agency_id,
        "region": report.region,
        "channel": report.channel,
        "received_at": report.received_at.astimezone(ALMATY).isoformat(),
        "registered_at": report.registered_at.astimezone(ALMATY).isoformat(),
        "concerns": json.loads(report.concerns),
        "signs": json.loads(report.signs),
        "flags": json.loads(report.flags),
        "joined": report.joined,
        "forwarded_under": report.forwarded_under,
    }


def read_case(case_id: str, who: Principal, *, deps: IntakeDeps) -> dict[str, Any]:
    """Return a case's summary (no personal data) to a related agency or an operator."""
    deps.gate().require_role(who, CASE_READERS, action="case.read", case_id=case_id)
    _mark_span(case_id, who)
    with unit_of_work(deps.engine) as session:
        relations = repository.relations(session, case_id=case_id, agency_id=who.agency_id)
        operator = who.role is Role.OPERATOR
        if not operator and not relations:
            reason = "the agency has no report, referral, obligation or plan on the case"
            raise deps.gate().refuse(who, action="case.read", case_id=case_id, reason=reason)
        case = repository.get_case(session, case_id=case_id)
        if case is None:
            raise NotFound(case_id)
        reports = [
            _report_summary(report)
            for report in repository.reports_of(session, case_id=case_id)
            if operator
            or domain.may_see_report(
                agency_type=who.agency_type,
                agency_id=who.agency_id,
                relations=relations,
                reporter_agency_id=report.reporter_agency_id,
            )
        ]
        answer: dict[str, Any] = {
            "case_id": case.case_id,
            "case_number": case.case_number,
            "region": case.region,
            "subject_kind": case.subject_kind,
            "status": case.status,
            "opened_at": case.opened_at.astimezone(ALMATY).isoformat(),
            "reports": reports,
            "your_relations": sorted(relations),
            "merged_into": duplicates.merged_into(session, case_id=case_id),
            "duplicate_candidates": duplicates.shown_candidates(
                session, case_id=case_id, who=who, operator=operator
            ),
            "linked_cases": _linked_cases(session, case_id),
        }
        if operator:
            answer["agencies"] = {
                agency: sorted(rels)
                for agency, rels in repository.agencies_of(session, case_id=case_id).items()
            }
        return answer


def _linked_cases(session: Any, case_id: str) -> list[dict[str, Any]]:
    # Ids only: who the linked person is stays behind the linked case's own access rules.
    return [
        {
            "case_id": link.child_case_id,
            "relation": "accompanying_child",
            "identified": link.identified,
            "legal_basis": (
                witnesses.CHILD_CASE_BASIS if link.identified else witnesses.UNIDENTIFIED_BASIS
            ),
        }
        if link.adult_case_id == case_id
        else {
            "case_id": link.adult_case_id,
            "relation": "adult_victim",
            "identified": link.identified,
            "legal_basis": witnesses.CHILD_CASE_BASIS,
        }
        for link in repository.links_of(session, case_id=case_id)
    ]


def read_subject(case_id: str, who: Principal, *, purpose: str, deps: IntakeDeps) -> dict[str, Any]:
    """Return the subject's personal fields the caller's agency may see; record the read."""
    deps.gate().require_role(who, AGENCY_ROLES, action="subject.read", case_id=case_id)
    _mark_span(case_id, who)
    with unit_of_work(deps.engine) as session:
        relations = repository.relations(session, case_id=case_id, agency_id=who.agency_id)
        try:
            fields = domain.subject_fields(who.agency_type, relations)
        except domain.AccessRefused as refused:
            raise deps.gate().refuse(
                who, action="subject.read", case_id=case_id, reason=refused.reason
            ) from None
        subject = repository.subject_of(session, case_id=case_id)
        if subject is None:
            raise NotFound(case_id)
        kind = subject.kind
        shown = {
            name: deps.cipher.decrypt(getattr(subject, name), field=name)
            for name in domain.SUBJECT_FIELDS
            if name in fields
        }
    # The read is on record before a single field leaves the service.
    deps.gate().record_read(
        who, action="subject.read", case_id=case_id, fields=shown, purpose=purpose
    )
    return {
        "case_id": case_id,
        "kind": kind,
        "fields": shown,
        "withheld": [name for name in domain.SUBJECT_FIELDS if name not in fields],
        "purpose": purpose,
    }


def read_report(
    report_id: str, who: Principal, *, purpose: str, deps: IntakeDeps
) -> dict[str, Any]:
    """Return one report, with the narrative where the caller may read it; record the read."""
    deps.gate().require_role(who, AGENCY_ROLES, action="report.read", case_id=None)
    with unit_of_work(deps.engine) as session:
        report = repository.get_report(session, report_id=report_id)
        if report is None:
            raise NotFound(report_id)
        case_id = report.case_id
        _mark_span(case_id, who)
        relations = repository.relations(session, case_id=case_id, agency_id=who.agency_id)
        try:
            fields = domain.report_fields(
                agency_type=who.agency_type,
                agency_id=who.agency_id,
                relations=relations,
                reporter_agency_id=report.reporter_agency_id,
            )
        except domain.AccessRefused as refused:
            raise deps.gate().refuse(
                who, action="report.read", case_id=case_id, reason=refused.reason
            ) from None
        answer = {"case_id": case_id, **_report_summary(report)}
        shown: dict[str, Any] = {}
        if domain.NARRATIVE in fields:
            shown[domain.NARRATIVE] = deps.cipher.decrypt(report.narrative, field="narrative")
    deps.gate().record_read(
        who, action="report.read", case_id=case_id, fields=shown, purpose=purpose
    )
    answer["fields"] = shown
    answer["withheld"] = [] if domain.NARRATIVE in fields else [domain.NARRATIVE]
    answer["purpose"] = purpose
    return answer
