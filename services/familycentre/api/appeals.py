"""Appeals over HTTP (p.12-14): recorded, answered, assessed, their needs determined (F1-F4).

Only the centre that holds an appeal reads it; reading the person's data is on the audit log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.familycentre import handlers, repository, views
from services.familycentre.api.common import (
    AgencyId,
    Caller,
    Name,
    Note,
    actor_of,
    on_record,
    refusals_as_http,
    runner,
)
from services.familycentre.domain import Channel, ResponseKind, Stage
from services.familycentre.handlers import CentreDeps
from shared.access import Gatekeeper
from shared.auth import DRAFT
from shared.http import PathId
from shared.openapi import refusals


class PersonIn(BaseModel):
    """The person (family) the appeal is about: stored encrypted, never in an event."""

    model_config = ConfigDict(extra="forbid")

    full_name: Name | None = None
    iin: str | None = Field(default=None, pattern=r"^[0-9]{12}$")
    birth_date: date | None = None
    contacts: Name | None = None
    address: Name | None = None


class ConsentIn(BaseModel):
    """Consent to collecting and processing personal data (p.13), on the day given."""

    model_config = ConfigDict(extra="forbid")

    given_on: date


class AppealIn(BaseModel):
    """An appeal from one of the five channels of p.12."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    received_at: AwareDatetime
    person: PersonIn | None = None
    summary: Note | None = None
    consent: ConsentIn | None = None
    threat_to_life: bool = False
    domestic_violence: bool = False
    # A case the platform already has (a report through intake), when the appeal is about it.
    case_id: UUID | None = None


class FirstResponseIn(BaseModel):
    """F2: a consultation and/or a redirect to the right organisation (p.13.1, p.14.1)."""

    model_config = ConfigDict(extra="forbid")

    kind: ResponseKind
    redirect_to_agency_id: AgencyId | None = None
    done_at: AwareDatetime


class AssessmentIn(BaseModel):
    """F3: the primary assessment of the difficult life situation (p.13.2, p.14.2)."""

    model_config = ConfigDict(extra="forbid")

    difficult_situation: bool
    findings: Note
    emergency_measures: list[Note] = Field(default_factory=list, max_length=50)
    done_at: AwareDatetime


class NeedsIn(BaseModel):
    """F4: the needs for the individual work plan (p.13.3, p.14.3), by area."""

    model_config = ConfigDict(extra="forbid")

    needs: dict[str, Note] = Field(max_length=20)
    done_at: AwareDatetime


def routes_of_appeals(
    deps: CentreDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build the appeals' routes."""
    routes = APIRouter(responses=refusals(403, 404, 409))
    act = runner(gate, wake_relay)

    @routes.post("/v1/appeals", status_code=201)
    async def record(body: AppealIn, who: Caller) -> dict[str, Any]:
        draft = handlers.AppealDraft(
            channel=body.channel,
            received_at=body.received_at,
            person=body.person.model_dump(mode="json", exclude_none=True) if body.person else None,
            summary=body.summary,
            consent_given_on=body.consent.given_on if body.consent else None,
            threat_to_life=body.threat_to_life,
            domestic_violence=body.domestic_violence,
            case_id=str(body.case_id) if body.case_id else None,
        )
        row = await act(
            who,
            DRAFT,
            "appeal.record",
            lambda: handlers.record_appeal(draft, actor=actor_of(who), deps=deps),
        )
        return await run_in_threadpool(_view, deps, row.appeal_id, who)

    @routes.get("/v1/appeals")
    async def list_appeals(who: Caller, stage: Stage | None = None) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with Session(deps.engine) as session:
                rows = repository.appeals_of_centre(
                    session, agency_id=who.agency_id, stage=stage.value if stage else None
                )
                return {"appeals": [views.appeal(session, row) for row in rows]}

        return await run_in_threadpool(read)

    @routes.get("/v1/appeals/{appeal_id}")
    async def read_appeal(appeal_id: PathId, who: Caller) -> dict[str, Any]:
        return await run_in_threadpool(_view, deps, appeal_id, who)

    @routes.get("/v1/appeals/{appeal_id}/personal")
    async def read_personal(appeal_id: PathId, who: Caller) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with Session(deps.engine) as session:
                # A refused read (not a centre) is on the audit log too.
                row = refusals_as_http(
                    on_record(
                        gate,
                        who,
                        "appeal.read_personal",
                        lambda: handlers.held_appeal(session, appeal_id, actor_of(who)),
                    )
                )
                # Every read of the person's data is on the audit log (privacy, as in intake).
                gate.record_read(
                    who,
                    action="appeal.read_personal",
                    case_id=row.case_id,
                    fields=views.APPEAL_PERSONAL_FIELDS,
                    purpose="family_support",
                )
                measures = repository.measures_of(session, appeal_id=row.appeal_id)
                return {
                    "appeal_id": appeal_id,
                    **views.appeal_personal(deps.cipher, row, measures),
                }

        return await run_in_threadpool(read)

    @routes.post("/v1/appeals/{appeal_id}/first-response")
    async def respond(appeal_id: PathId, body: FirstResponseIn, who: Caller) -> dict[str, Any]:
        await act(
            who,
            DRAFT,
            "appeal.first_response",
            lambda: handlers.first_response(
                appeal_id,
                kind=body.kind,
                redirect_to=body.redirect_to_agency_id,
                done_at=body.done_at,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return await run_in_threadpool(_view, deps, appeal_id, who)

    @routes.post("/v1/appeals/{appeal_id}/assessment")
    async def assess(appeal_id: PathId, body: AssessmentIn, who: Caller) -> dict[str, Any]:
        await act(
            who,
            DRAFT,
            "appeal.assessment",
            lambda: handlers.record_assessment(
                appeal_id,
                difficult_situation=body.difficult_situation,
                findings=body.findings,
                emergency_measures=tuple(body.emergency_measures),
                done_at=body.done_at,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return await run_in_threadpool(_view, deps, appeal_id, who)

    @routes.post("/v1/appeals/{appeal_id}/needs")
    async def needs(appeal_id: PathId, body: NeedsIn, who: Caller) -> dict[str, Any]:
        await act(
            who,
            DRAFT,
            "appeal.needs",
            lambda: handlers.record_needs(
                appeal_id,
                needs=dict(body.needs),
                done_at=body.done_at,
                actor=actor_of(who),
                deps=deps,
            ),
        )
        return await run_in_threadpool(_view, deps, appeal_id, who)

    return routes


def _view(deps: CentreDeps, appeal_id: str, who: Any) -> dict[str, Any]:
    with Session(deps.engine) as session:
        row = refusals_as_http(lambda: handlers.held_appeal(session, appeal_id, actor_of(who)))
        return views.appeal(session, row)
