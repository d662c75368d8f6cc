"""What the family centre's routes share: input types, the caller, refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from services.familycentre import domain, handlers
from services.familycentre.handlers import Actor
from shared.access import Gatekeeper
from shared.auth import Principal, Role, principal
from shared.httprefusals import Refusals, checked
from shared.httprefusals import error as error
from shared.plans import PlanInvalid, PlanLocked

AgencyId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
# Text a person wrote: any text but control characters (newlines and tabs allowed).
Note = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Caller = Annotated[Principal, Depends(principal)]


REFUSALS = Refusals(
    not_found=(
        handlers.UnknownAppeal,
        handlers.UnknownPlan,
        handlers.UnknownStay,
        handlers.UnknownGroup,
    ),
    not_actor=(domain.NotActor,),
    invalid=(domain.InvalidInput, PlanInvalid),
    illegal=(domain.IllegalTransition, PlanLocked),
)
# Audit the centre's refused steps.
on_record = REFUSALS.on_record


def refusals_as_http(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the centre's refusals into HTTP answers."""
    try:
        return REFUSALS.as_http(call)
    except handlers.UnknownAgency as unknown:
        raise error(422, "is not an active agency of the directory", str(unknown)) from None


def actor_of(who: Principal) -> Actor:
    """Return the person recording a step: the token's subject (an id), agency and role."""
    return Actor(
        person_id=who.subject,
        agency_id=who.agency_id,
        agency_type=who.agency_type,
        region=who.region,
        is_head=who.role is Role.HEAD,
    )


Act = Callable[[Principal, frozenset[Role], str, Callable[[], Any]], Any]


def runner(gate: Gatekeeper, wake_relay: Callable[[], None] | None) -> Act:
    """Return how a route takes a step: the role checked (refusal audited), the handler run off
    the loop with its refusals as HTTP answers, the relay woken for what it staged."""

    async def act(
        who: Principal, roles: frozenset[Role], action: str, call: Callable[[], Any]
    ) -> Any:
        await checked(lambda: gate.require_role(who, roles, action=action))
        done = await run_in_threadpool(refusals_as_http, on_record(gate, who, action, call))
        if wake_relay is not None:
            wake_relay()
        return done

    return act
