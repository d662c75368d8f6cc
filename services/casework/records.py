"""How casework stores the assessment and the plan: the domain objects as encrypted JSON.

`services.casework.assessment` and `shared.plans` are frozen dataclasses; pydantic reads and
writes them whole, every version included, so a document is one encrypted value per row.
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import TypeAdapter

from services.casework.assessment import Assessment
from shared.crypto import FieldCipher
from shared.plans import PLAN_KINDS, Plan

_ASSESSMENT = TypeAdapter(Assessment)
_PLAN = TypeAdapter(Plan)
ASSESSMENT_FIELD = "assessment.document"
PLAN_FIELD = "plan.document"


def seal_assessment(cipher: FieldCipher, assessment: Assessment) -> str:
    """Return the assessment as one encrypted value."""
    sealed = cipher.encrypt(_ASSESSMENT.dump_json(assessment).decode(), field=ASSESSMENT_FIELD)
    assert sealed is not None
    return sealed


def open_assessment(cipher: FieldCipher, document: str) -> Assessment:
    """Return the assessment an encrypted value holds."""
    return _ASSESSMENT.validate_json(cipher.decrypt(document, field=ASSESSMENT_FIELD) or "")


def seal_plan(cipher: FieldCipher, plan: Plan) -> str:
    """Return the plan as one encrypted value."""
    sealed = cipher.encrypt(_PLAN.dump_json(plan).decode(), field=PLAN_FIELD)
    assert sealed is not None
    return sealed


def open_plan(cipher: FieldCipher, document: str) -> Plan:
    """Return the plan an encrypted value holds, under the rules of its kind as they stand."""
    plan = _PLAN.validate_json(cipher.decrypt(document, field=PLAN_FIELD) or "")
    return replace(plan, kind=PLAN_KINDS.get(plan.kind.code, plan.kind))
