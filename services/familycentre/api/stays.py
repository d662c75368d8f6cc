"""The centre's rooms and their places, a stay's extension within its month (p.6.4, p.23.5), and
the support measures of p.23."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.familycentre import domain, handlers, views
from services.familycentre.api.common import Caller, Note, actor_of, runner
from services.familycentre.handlers import CentreDeps
from shared.access import Gatekeeper, forbidden
from shared.auth import APPROVE, DRAFT
from shared.http import PathId
from shared.openapi import refusals

# The same names a stay's `room` takes.
RoomName = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9 ._-]+$")]


class RoomIn(BaseModel):
    """A room of the centre's temporary stays and the places it has."""

    model_config = ConfigDict(extra="forbid")

    capacity: int = Field(ge=1, le=100)


class ExtendIn(BaseModel):
    """A stay's new last day, within one month of the admission (p.6.4, p.23.5)."""

    model_config = ConfigDict(extra="forbid")

    until: date


class MeasureIn(BaseModel):
    """A support measure of p.23 given to a person with signs of domestic violence."""

    model_config = ConfigDict(extra="forbid")

    kind: domain.SupportKind
    provided_on: date
    note: Note | None = None


def routes_of_stays(
    deps: CentreDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build the routes of rooms, extensions and the measures of p.23."""
    routes = APIRouter(responses=refusals(403, 404, 409))
    act = runner(gate, wake_relay)

    @routes.put("/v1/rooms/{room}")
    async def declare(room: RoomName, body: RoomIn, who: Caller) -> dict[str, Any]:
        row = await act(
            who,
            APPROVE,
            "room.declare",
            lambda: handlers.declare_room(
                room, capacity=body.capacity, actor=actor_of(who), deps=deps
            ),
        )
        return {"room": row.room, "capacity": row.capacity}

    @routes.get("/v1/rooms")
    async def rooms(who: Caller) -> dict[str, Any]:
        if who.agency_type != domain.CENTRE:
            # A refused read is on the audit log too.
            reason = "only a family support centre reads its rooms"
            raise forbidden(
                await run_in_threadpool(
                    lambda: gate.refuse(who, action="room.read", case_id=None, reason=reason)
                )
            )
        found = await run_in_threadpool(handlers.rooms_of, deps.engine, agency_id=who.agency_id)
        return {"rooms": found}

    @routes.post("/v1/stays/{stay_id}/extend")
    async def extend(stay_id: PathId, body: ExtendIn, who: Caller) -> dict[str, Any]:
        row = await act(
            who,
            DRAFT,
            "stay.extend",
            lambda: handlers.extend_stay(stay_id, until=body.until, actor=actor_of(who), deps=deps),
        )
        return views.stay(deps.cipher, row, personal=False)

    @routes.post("/v1/appeals/{appeal_id}/support-measures", status_code=201)
    async def measure(appeal_id: PathId, body: MeasureIn, who: Caller) -> dict[str, Any]:
        draft = handlers.MeasureDraft(kind=body.kind, provided_on=body.provided_on, note=body.note)
        row = await act(
            who,
            DRAFT,
            "appeal.support_measure",
            lambda: handlers.record_measure(appeal_id, draft, actor=actor_of(who), deps=deps),
        )
        return views.measure(row)

    return routes
