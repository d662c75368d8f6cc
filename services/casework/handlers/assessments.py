"""The primary assessment of the child's situation (R19; Rules 38874 p.21, Appendix 1).

The rules are `services.casework.assessment`'s; here the assessment is loaded, changed, stored
encrypted, and its approval meets R19.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session

from services.casework import domain, records, repository
from services.casework.assessment import Assessment, AssessmentForm
from services.casework.handlers.cases import fields_of, meet_row, open_case
from services.casework.handlers.common import Actor, CaseworkDeps
from services.casework.tables import AssessmentRow
from shared.contracts.casework import AssessmentApproved
from shared.db import unit_of_work
from shared.outbox import stage


class NoAssessment(LookupError):
    """The case has no assessment yet (answered 404)."""


def _assessment(
    session: Session, deps: CaseworkDeps, case_id: str
) -> tuple[AssessmentRow, Assessment]:
    row = repository.assessment_of_case(session, case_id=case_id)
    if row is None:
        raise NoAssessment(case_id)
    return row, records.open_assessment(deps.cipher, row.document)


def _store_assessment(
    session: Session,
    row: AssessmentRow | None,
    assessment: Assessment,
    deps: CaseworkDeps,
    now: datetime,
) -> AssessmentRow:
    current = assessment.current
    if row is None:
        row = AssessmentRow(
            assessment_id=assessment.assessment_id,
            case_id=assessment.case_id,
            version=current.number,
            status=current.status.value,
            updated_at=now,
            document="",
        )
    row.version = current.number
    row.status = current.status.value
    row.approved_at = current.approval.at if current.approval else None
    row.updated_at = now
    row.document = records.seal_assessment(deps.cipher, assessment)
    session.add(row)
    return row


def save_assessment(
    case_id: str, form: AssessmentForm, actor: Actor, *, deps: CaseworkDeps
) -> Assessment:
    """Save the draft of the case's assessment (starting it on the first save)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        open_case(session, case_id, actor)
        try:
            row, assessment = _assessment(session, deps, case_id)
            assessment = assessment.save(form, at=now)
        except NoAssessment:
            row = None
            assessment = Assessment.start(str(uuid.uuid4()), case_id, at=now, form=form)
        _store_assessment(session, row, assessment, deps, now)
        session.commit()
        return assessment


def approve_assessment(case_id: str, actor: Actor, *, deps: CaseworkDeps) -> Assessment:
    """The head approves the draft: the assessment is fixed and R19 is met (p.21)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        case = open_case(session, case_id, actor)
        if not actor.is_head:
            raise domain.NotActor("only the head approves the assessment (Appendix 1)")
        row, assessment = _assessment(session, deps, case_id)
        assessment = assessment.approve(by=actor.person_id, at=now)
        _store_assessment(session, row, assessment, deps, now)
        fields = fields_of(case, actor, now)
        stage(
            session,
            AssessmentApproved(
                **fields,
                assessment_id=uuid.UUID(assessment.assessment_id),
                version=assessment.current.number,
                body_agency_id=case.body_agency_id,
                approved_at=now,
            ),
            now=now,
        )
        meet_row(session, case, "R19", fields=fields, now=now)
        session.commit()
        return assessment


def correct_assessment(
    case_id: str, reason: str, actor: Actor, *, deps: CaseworkDeps
) -> Assessment:
    """Open the next version of an approved assessment as a draft: a correction is a new version."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        open_case(session, case_id, actor)
        row, assessment = _assessment(session, deps, case_id)
        assessment = assessment.correct(reason=reason, at=now)
        _store_assessment(session, row, assessment, deps, now)
        session.commit()
        return assessment


def read_assessment(case_id: str, *, deps: CaseworkDeps) -> Assessment:
    """Return a case's assessment (the caller audits the read)."""
    with unit_of_work(deps.engine) as session:
        return _assessment(session, deps, case_id)[1]
