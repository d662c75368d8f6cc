"""The printed assessment (Appendix 1) and plan (Appendix 2), in Kazakh or Russian.

The documents package lays the forms out; here the stored records are opened and given the
context the forms print that the records hold only as ids: the organisations' names from the
directory, the child's name from the assessment.
"""

from __future__ import annotations

from typing import Any

from services.casework import documents, records, repository
from services.casework.handlers.assessments import NoAssessment
from services.casework.handlers.common import CaseworkDeps
from services.casework.handlers.plans import UnknownPlan
from services.casework.tables import PlanRow
from shared.db import unit_of_work


def assessment_html(
    case_id: str, lang: str, *, version: int | None = None, deps: CaseworkDeps
) -> str:
    """Return a version of the case's assessment (by default its newest) as Appendix 1."""
    with unit_of_work(deps.engine) as session:
        row = repository.assessment_of_case(session, case_id=case_id)
        if row is None:
            raise NoAssessment(case_id)
        assessment = records.open_assessment(deps.cipher, row.document)
    return documents.render_assessment_html(assessment, lang, version=version)


def plan_html(plan_id: str, lang: str, *, version: int | None = None, deps: CaseworkDeps) -> str:
    """Return a version of the plan (by default the one in force, else its draft) as Appendix 2."""
    with unit_of_work(deps.engine) as session:
        row = session.get(PlanRow, plan_id)
        if row is None:
            raise UnknownPlan(plan_id)
        plan = records.open_plan(deps.cipher, row.document)
        responsible = [line.responsible for line in plan.lines() if line.responsible]
        context: dict[str, Any] = {
            "agencies": repository.agency_names(session, responsible, lang=lang)
        }
        stored = repository.assessment_of_case(session, case_id=row.case_id)
        if stored is not None:
            child = records.open_assessment(deps.cipher, stored.document).current.form.child
            if child.full_name:
                context["child"] = {"full_name": child.full_name}
    return documents.render_plan_html(plan, lang, context, version=version)


def plan_case(plan_id: str, *, deps: CaseworkDeps) -> str:
    """Return the case a plan belongs to."""
    with unit_of_work(deps.engine) as session:
        row = session.get(PlanRow, plan_id)
        if row is None:
            raise UnknownPlan(plan_id)
        return row.case_id
