"""`GET /v1/audit` and the token gate, as every service mounts them.

Operators read a service's audit log by case, agency, time and outcome, refusals without a case
included (a refused token, an inbox asked by another agency). Rules 38874 p.33-34: who saw, or
tried to see, a child's data must be answerable, whichever service was asked.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query
from pydantic import AfterValidator, AwareDatetime
from starlette.concurrency import run_in_threadpool

from shared import audit, openapi
from shared.access import Gatekeeper, forbidden
from shared.auth import Principal, Refused, Role, TokenVerifier, principal
from shared.auth import install as install_tokens
from shared.checkpoints import Checkpointer, latest
from shared.db import unit_of_work
from shared.http import FieldErrorsRoute
from shared.refusals import TokenRefusals
from shared.runtime import ServiceRuntime, broker_connected

MAX_LIMIT = 1000


def _in_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range") from None


Moment = Annotated[AwareDatetime | None, AfterValidator(_in_utc)]
Caller = Annotated[Principal, Depends(principal)]


def router(gate: Gatekeeper) -> APIRouter:
    """Build `GET /v1/audit`: an operator's filtered read of this service's audit log."""
    routes = APIRouter(route_class=FieldErrorsRoute, responses=openapi.refusals(403))

    @routes.get("/v1/audit")
    async def read_audit(
        who: Caller,
        case_id: uuid.UUID | None = None,
        agency_id: Annotated[
            str | None, Query(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
        ] = None,
        outcome: Literal["allowed", "refused"] | None = None,
        since: Annotated[Moment, Query(alias="from")] = None,
        until: Annotated[Moment, Query(alias="to")] = None,
        # The log's sequence column is a 32-bit integer on PostgreSQL.
        after_seq: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 500,
    ) -> dict[str, Any]:
        case = str(case_id) if case_id is not None else None

        def read() -> list[dict[str, Any]]:
            # Who reads the log is itself on record when refused.
            gate.require_role(who, {Role.OPERATOR}, action="audit.read", case_id=case)
            with unit_of_work(gate.engine) as session:
                found = audit.search(
                    session,
                    case_id=case,
                    agency_id=agency_id,
                    outcome=outcome,
                    since=since,
                    until=until,
                    after_seq=after_seq,
                    limit=limit,
                )
                return [audit.as_dict(entry) for entry in found]

        try:
            entries = await run_in_threadpool(read)
        except Refused as refused:
            raise forbidden(refused) from None
        return {
            "case_id": case,
            "agency_id": agency_id,
            "outcome": outcome,
            "from": since.isoformat() if since else None,
            "to": until.isoformat() if until else None,
            "entries": entries,
        }

    return routes


def mount(
    app: FastAPI, gate: Gatekeeper, verifier: TokenVerifier, *, runtime: ServiceRuntime
) -> TokenRefusals:
    """Serve `GET /v1/audit`, require tokens (recording refused ones), checkpoint the head."""
    app.include_router(router(gate), responses=openapi.refusals(401, 422, 503))
    refusals = TokenRefusals(gate)
    install_tokens(app, verifier, on_refusal=gate.refuse, on_invalid=refusals.note)
    app.state.token_refusals = refusals
    seconds = refusals.interval.total_seconds()
    runtime.run_every("refusal-counts", seconds, lambda: refusals.settle())
    checkpointer = Checkpointer(
        engine=gate.engine,
        service=runtime.service,
        key=gate.key,
        clock=gate.clock,
        publisher=runtime.broker,
        load_last=lambda: latest(runtime.settings.resolved_nats_url(), runtime.service),
    )
    interval = runtime.settings.audit_checkpoint_interval
    runtime.run_in_background(
        "audit-checkpoints",
        lambda: checkpointer.run(interval, lambda: broker_connected(runtime.broker)),
    )
    return refusals
