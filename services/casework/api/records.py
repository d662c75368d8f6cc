"""The assessment (R19, Appendix 1) and the rehabilitation plan (R20, Appendix 2) over HTTP.

A caseworker of the body drafts, the head approves; a correction or a revision is a new version.
What they hold is personal data: only the body holding the case reads it whole (every read
audited); an organisation with plan lines reads its own lines only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic import TypeAdapter as Adapter
from starlette.concurrency import run_in_threadpool

from services.casework import handlers, views
from services.casework.api.common import (
    AgencyId,
    ApprovalIn,
    Caller,
    Note,
    PersonId,
    actor_of,
    checked,
    on_record,
    refusals_as_http,
    same_agency,
)
from services.casework.assessment import (
    Assessment,
    AssessmentForm,
    Assessor,
    ChildData,
    Needs,
    PsychologicalNeeds,
    PsychPedagogicalNeeds,
)
from services.casework.handlers import CaseworkDeps, PlanDraft
from shared.access import Gatekeeper
from shared.auth import APPROVE, DRAFT, Principal, Role
from shared.http import PathId
from shared.openapi import refusals
from shared.plans import Consent, Plan, PlanLine

Name = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]


class ChildIn(BaseModel):
    """Section "child": surname, name, patronymic; sex; age."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name | None = None
    sex: str | None = Field(default=None, max_length=10)
    age: int | None = Field(default=None, ge=0, le=17)


class AssessorIn(BaseModel):
    """An employee who carried out the assessment (Appendix 1)."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name
    position: Name
    person_id: PersonId | None = None


class NeedsIn(BaseModel):
    """Section 3: social, legal, medical, psychological and educational needs."""

    model_config = ConfigDict(extra="forbid")

    social: Note | None = None
    legal: Note | None = None
    medical: Note | None = None
    psychological: Note | None = None
    educational: Note | None = None


class PsychPedagogicalIn(BaseModel):
    """Section 4: psychological-pedagogical needs."""

    model_config = ConfigDict(extra="forbid")

    safety: Note | None = None
    social_skills: Note | None = None
    family_ties: Note | None = None
    emotional_behaviour: Note | None = None
    education: Note | None = None


class PsychologicalIn(BaseModel):
    """Section 5: psychological needs."""

    model_config = ConfigDict(extra="forbid")

    wellbeing: Note | None = None
    past_trauma: Note | None = None
    self_esteem: Note | None = None
    relatives: Note | None = None


class AssessmentIn(BaseModel):
    """The assessment form as saved: any field may stay empty until the head approves."""

    model_config = ConfigDict(extra="forbid")

    child: ChildIn = ChildIn()
    assessors: list[AssessorIn] = Field(default_factory=list, max_length=20)
    home_family: Note | None = None
    relations: Note | None = None
    needs: NeedsIn = NeedsIn()
    psych_pedagogical: PsychPedagogicalIn = PsychPedagogicalIn()
    psychological: PsychologicalIn = PsychologicalIn()
    conclusions: Note | None = None
    signed_on: date | None = None

    def form(self) -> AssessmentForm:
        """Return the domain's form."""
        return AssessmentForm(
            child=ChildData(**self.child.model_dump()),
            assessors=tuple(Assessor(**each.model_dump()) for each in self.assessors),
            home_family=self.home_family,
            relations=self.relations,
            needs=Needs(**self.needs.model_dump()),
            psych_pedagogical=PsychPedagogicalNeeds(**self.psych_pedagogical.model_dump()),
            psychological=PsychologicalNeeds(**self.psychological.model_dump()),
            conclusions=self.conclusions,
            signed_on=self.signed_on,
        )


class ReasonIn(BaseModel):
    """Why a new version is opened (a correction, a revision)."""

    model_config = ConfigDict(extra="forbid")

    reason: Note


# The plans kept here: the body's rehabilitation plan (R20, Appendix 2), and an education
# organisation's work plan with the family and the child (Guide p.9).
PlanKindName = Literal["rehabilitation", "education_work"]


class PlanIn(BaseModel):
    """A new plan: its kind, period and the assessment period it rests on (Appendix 2)."""

    model_config = ConfigDict(extra="forbid")

    kind: PlanKindName = "rehabilitation"
    plan_id: UUID | None = None
    period_start: date
    period_end: date
    assessed_from: date | None = None
    assessed_to: date | None = None
    remarks: Note | None = None


class LineIn(BaseModel):
    """A line of the plan: kind of help, activity, dates, responsible organisation."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")
    activity: Note
    assigned_on: date
    due_on: date
    responsible: AgencyId | None = None


class ConsentIn(BaseModel):
    """The parent's or representative's consent (name, date), or why it could not be had."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    given_on: date | None = None
    not_obtained_reason: Note | None = None


_ASSESSMENT = Adapter(Assessment)
_PLAN = Adapter(Plan)
ASSESSMENT_FIELDS = ("assessment.document",)
PLAN_FIELDS = ("plan.document",)


def assessment_view(assessment: Assessment) -> dict[str, Any]:
    """Return the assessment with every version, as the body reads it."""
    found: dict[str, Any] = _ASSESSMENT.dump_python(assessment, mode="json")
    found["status"] = assessment.current.status.value
    found["version"] = assessment.current.number
    return found


def plan_view(plan: Plan, *, agency_id: str | None) -> dict[str, Any]:
    """Return the plan: whole for the body (agency_id None), else that agency's lines only."""
    lines = [
        _PLAN_LINE.dump_python(line, mode="json")
        for line in plan.lines()
        if agency_id is None or line.responsible == agency_id
    ]
    view: dict[str, Any] = {
        "plan_id": plan.plan_id,
        "case_id": plan.subject_id,
        "kind": plan.kind.code,
        "legal_basis": plan.kind.legal_basis,
        "version": plan.current.number,
        "status": "ended" if plan.ending else plan.current.status.value,
        "lines": lines,
    }
    if agency_id is None:
        whole: dict[str, Any] = _PLAN.dump_python(plan, mode="json")
        whole.pop("kind", None)
        view["versions"] = whole["versions"]
        view["outcomes"] = whole["outcomes"]
        view["monitoring"] = whole["monitoring"]
        view["ending"] = whole["ending"]
    return view


_PLAN_LINE = Adapter(PlanLine)


def routes_of_records(
    deps: CaseworkDeps,
    *,
    gate: Gatekeeper,
    wake_relay: Callable[[], None] | None = None,
) -> APIRouter:
    """Build the assessment's and the plan's routes."""
    routes = APIRouter(responses=refusals(403, 404, 409))

    def wake_relay_now() -> None:
        if wake_relay is not None:
            wake_relay()

    async def act(
        who: Principal,
        roles: frozenset[Role],
        action: str,
        call: Callable[[], Any],
        body: ApprovalIn | None = None,
    ) -> Any:
        await checked(lambda: gate.require_role(who, roles, action=action))
        if body is not None:
            await checked(lambda: same_agency(gate, who, body, action))
        done = await run_in_threadpool(refusals_as_http, on_record(gate, who, action, call))
        wake_relay_now()
        return done

    def body_reads(who: Principal, case_id: str, action: str, fields: tuple[str, ...]) -> None:
        # Only the body holding the case reads its records; the read is on the audit log.
        holder = views.holder(deps.engine, case_id=case_id)
        gate.require(
            who,
            who.agency_id == holder,
            action=action,
            case_id=case_id,
            reason="only the body holding the case reads its assessment and plan",
        )
        gate.record_read(who, action=action, case_id=case_id, fields=fields, purpose="casework")

    # --- the assessment ---------------------------------------------------------------------

    @routes.put("/v1/cases/{case_id}/assessment")
    async def save_assessment(case_id: PathId, body: AssessmentIn, who: Caller) -> dict[str, Any]:
        form = body.form()
        found = await act(
            who,
            DRAFT,
            "assessment.save",
            lambda: handlers.save_assessment(case_id, form, actor_of(who), deps=deps),
        )
        return {
            "case_id": case_id,
            "assessment_id": found.assessment_id,
            "version": found.current.number,
            "status": found.current.status.value,
        }

    @routes.post("/v1/cases/{case_id}/assessment/approve")
    async def approve_assessment(case_id: PathId, body: ApprovalIn, who: Caller) -> dict[str, Any]:
        found = await act(
            who,
            APPROVE,
            "assessment.approve",
            lambda: handlers.approve_assessment(case_id, actor_of(who), deps=deps),
            body,
        )
        return {
            "case_id": case_id,
            "assessment_id": found.assessment_id,
            "version": found.current.number,
            "status": found.current.status.value,
        }

    @routes.post("/v1/cases/{case_id}/assessment/corrections", status_code=201)
    async def correct_assessment(case_id: PathId, body: ReasonIn, who: Caller) -> dict[str, Any]:
        found = await act(
            who,
            DRAFT,
            "assessment.correct",
            lambda: handlers.correct_assessment(case_id, body.reason, actor_of(who), deps=deps),
        )
        return {
            "case_id": case_id,
            "assessment_id": found.assessment_id,
            "version": found.current.number,
            "status": found.current.status.value,
        }

    @routes.get("/v1/cases/{case_id}/assessment")
    async def read_assessment(case_id: PathId, who: Caller) -> dict[str, Any]:
        await checked(lambda: body_reads(who, case_id, "assessment.read", ASSESSMENT_FIELDS))
        found = await run_in_threadpool(
            refusals_as_http, lambda: handlers.read_assessment(case_id, deps=deps)
        )
        return {"case_id": case_id, **assessment_view(found)}

    # --- the plan --------------------------------------------------------------------------

    @routes.post("/v1/cases/{case_id}/plans", status_code=201)
    async def create_plan(case_id: PathId, body: PlanIn, who: Caller) -> dict[str, Any]:
        draft = PlanDraft(
            plan_id=str(body.plan_id or uuid4()),
            period_start=body.period_start,
            period_end=body.period_end,
            assessed_from=body.assessed_from,
            assessed_to=body.assessed_to,
            remarks=body.remarks,
            kind=body.kind,
        )
        found = await act(
            who,
            DRAFT,
            "plan.create",
            lambda: handlers.create_plan(case_id, draft, actor_of(who), deps=deps),
        )
        return plan_view(found, agency_id=None)

    @routes.put("/v1/plans/{plan_id}/lines/{line_id}")
    async def put_line(
        plan_id: PathId, line_id: PathId, body: LineIn, who: Caller
    ) -> dict[str, Any]:
        line = PlanLine(
            line_id=line_id,
            kind=body.kind,
            activity=body.activity,
            assigned_on=body.assigned_on,
            due_on=body.due_on,
            responsible=body.responsible,
            assigned_by=who.subject,
        )
        found = await act(
            who,
            DRAFT,
            "plan.line",
            lambda: handlers.put_line(plan_id, line, actor_of(who), deps=deps),
        )
        return plan_view(found, agency_id=None)

    @routes.delete("/v1/plans/{plan_id}/lines/{line_id}")
    async def remove_line(plan_id: PathId, line_id: PathId, who: Caller) -> dict[str, Any]:
        found = await act(
            who,
            DRAFT,
            "plan.line",
            lambda: handlers.remove_line(plan_id, line_id, actor_of(who), deps=deps),
        )
        return plan_view(found, agency_id=None)

    @routes.put("/v1/plans/{plan_id}/consent")
    async def consent(plan_id: PathId, body: ConsentIn, who: Caller) -> dict[str, Any]:
        given = Consent(
            name=body.name, given_on=body.given_on, not_obtained_reason=body.not_obtained_reason
        )
        found = await act(
            who,
            DRAFT,
            "plan.consent",
            lambda: handlers.record_consent(plan_id, given, actor_of(who), deps=deps),
        )
        return plan_view(found, agency_id=None)

    @routes.post("/v1/plans/{plan_id}/approve")
    async def approve_plan(plan_id: PathId, body: ApprovalIn, who: Caller) -> dict[str, Any]:
        found = await act(
            who,
            APPROVE,
            "plan.approve",
            lambda: handlers.approve_plan(plan_id, actor_of(who), deps=deps),
            body,
        )
        return plan_view(found, agency_id=None)

    @routes.post("/v1/plans/{plan_id}/revisions", status_code=201)
    async def revise_plan(plan_id: PathId, body: ReasonIn, who: Caller) -> dict[str, Any]:
        found = await act(
            who,
            DRAFT,
            "plan.revise",
            lambda: handlers.revise_plan(plan_id, body.reason, actor_of(who), deps=deps),
        )
        return plan_view(found, agency_id=None)

    @routes.get("/v1/plans/{plan_id}")
    async def read_plan(plan_id: PathId, who: Caller) -> dict[str, Any]:
        case_id, owner, plan = await run_in_threadpool(
            refusals_as_http, lambda: handlers.read_plan(plan_id, deps=deps)
        )
        holder = await run_in_threadpool(views.holder, deps.engine, case_id=case_id)
        # The body holding the case sees every plan of it; the owner its own plan whole.
        whole = who.agency_id in (holder, owner)
        own = any(line.responsible == who.agency_id for line in plan.lines())

        def allowed() -> None:
            gate.require(
                who,
                whole or own,
                action="plan.read",
                case_id=case_id,
                reason="only the body holding the case, the plan's owner, its lines' agencies",
            )
            gate.record_read(
                who, action="plan.read", case_id=case_id, fields=PLAN_FIELDS, purpose="casework"
            )

        await checked(allowed)
        return plan_view(plan, agency_id=None if whole else who.agency_id)

    @routes.get("/v1/cases/{case_id}/plan")
    async def case_plan(
        case_id: PathId, who: Caller, kind: Annotated[PlanKindName, Query()] = "rehabilitation"
    ) -> dict[str, Any]:
        plan_id = await run_in_threadpool(
            refusals_as_http, lambda: handlers.plan_of_case(case_id, kind, deps=deps)
        )
        return await read_plan(plan_id, who)

    return routes
