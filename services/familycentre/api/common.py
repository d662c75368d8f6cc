"""What the family centre's routes share: input types, the caller, refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from services.familycentre import domain, handlers
from services.familycentre.handlers import Actor
from shared.access import Gatekeeper, forbidden
from shared.auth import Principal, Refused, Role, principal
from shared.plans import PlanInvalid, PlanLocked

AgencyId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
# Text a person wrote: any text but control characters (newlines and tabs allowed).
Note = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
Name = Annotated[str, Field(min_length=1, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$")]
Caller = Annotated[Principal, Depends(principal)]


def error(status: int, message: str, field: str | None = None) -> HTTPException:
    """Return an HTTP refusal: a sentence, or (422) the field at fault."""
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


_NOT_FOUND = (
    handlers.UnknownAppeal,
    handlers.UnknownPlan,
    handlers.UnknownStay,
    handlers.UnknownGroup,
)


def refusals_as_http(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the domain's refusals into HTTP answers."""
    try:
        return call()
    except _NOT_FOUND as found:
        raise error(404, f"not found: {type(found).__name__} {found}") from None
    except handlers.UnknownAgency as unknown:
        raise error(422, "is not an active agency of the directory", str(unknown)) from None
    except domain.NotActor as refused:
        raise error(403, str(refused)) from None
    except domain.InvalidInput as invalid:
        raise error(422, invalid.message, invalid.field) from None
    except PlanInvalid as invalid:
        field = f"lines.{invalid.line_id}.{invalid.field}" if invalid.line_id else invalid.field
        raise error(422, invalid.message, field) from None
    except (domain.IllegalTransition, PlanLocked) as illegal:
        raise error(409, str(illegal)) from None


def actor_of(who: Principal) -> Actor:
    """Return the person recording a step: the token's subject (an id), agency and role."""
    return Actor(
        person_id=who.subject,
        agency_id=who.agency_id,
        agency_type=who.agency_type,
        region=who.region,
        is_head=who.role is Role.HEAD,
    )


async def checked(call: Callable[[], Any]) -> Any:
    """Run a blocking access check (or read) off the loop; a refusal answers 403."""
    try:
        return await run_in_threadpool(call)
    except Refused as refused:
        raise forbidden(refused) from None


def on_record(
    gate: Gatekeeper, who: Principal, action: str, call: Callable[[], Any]
) -> Callable[[], Any]:
    """Wrap a handler so that a refused step (not a centre, not the head) is audited."""

    def run() -> Any:
        try:
            return call()
        except domain.NotActor as refused:
            gate.refuse(who, action=action, case_id=None, reason=str(refused))
            raise

    return run


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
