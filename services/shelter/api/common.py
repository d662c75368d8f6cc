"""What shelter's routes share: the caller as an actor, and refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from starlette.concurrency import run_in_threadpool

from services.shelter import domain, handlers, views
from services.shelter.handlers import Actor, ShelterDeps
from shared.access import Gatekeeper, forbidden
from shared.auth import Principal, Refused, Role, principal
from shared.plans import PlanInvalid, PlanLocked

Caller = Annotated[Principal, Depends(principal)]
Act = Callable[[Principal, str, Callable[[], Any]], Awaitable[dict[str, Any]]]


def actor_of(who: Principal) -> Actor:
    """Return the person recording a step: the token's subject (an id), agency and role."""
    return Actor(who.subject, who.agency_id, who.agency_type, who.region, who.role is Role.HEAD)


def error(status: int, message: str, field: str | None = None) -> HTTPException:
    """Return an HTTP refusal: a sentence, or (422) the field at fault."""
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


def acting(gate: Gatekeeper, deps: ShelterDeps, wake_relay: Callable[[], None]) -> Act:
    """Return how a route runs a step: refusals audited and answered, the stay's state back."""

    async def act(who: Principal, action: str, call: Callable[[], Any]) -> dict[str, Any]:
        def run() -> Any:
            try:
                return call()
            except domain.NotActor as refused:
                gate.refuse(who, action=action, case_id=None, reason=str(refused))
                raise

        try:
            done = await run_in_threadpool(run)
        except (handlers.UnknownStay, handlers.UnknownReferral) as missing:
            raise error(404, f"not found: {type(missing).__name__}") from None
        except domain.NotActor as refused:
            raise error(403, str(refused)) from None
        except domain.InvalidInput as invalid:
            raise error(422, invalid.message, invalid.field) from None
        except domain.IllegalStep as illegal:
            raise error(409, str(illegal)) from None
        except PlanInvalid as invalid:
            field = f"lines.{invalid.line_id}.{invalid.field}" if invalid.line_id else invalid.field
            raise error(422, invalid.message, field) from None
        except PlanLocked as locked:
            raise error(409, str(locked)) from None
        wake_relay()
        summary: dict[str, Any] = await run_in_threadpool(views.summary, done.stay_id, deps=deps)
        return summary

    return act


async def checked(call: Callable[[], Any]) -> Any:
    """Run a blocking access check off the loop; a refusal answers 403."""
    try:
        return await run_in_threadpool(call)
    except Refused as refused:
        raise forbidden(refused) from None
