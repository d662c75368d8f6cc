"""What casework's routes share: input types, the caller, refusals as HTTP answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.casework import domain, handlers
from services.casework.assessment import AssessmentInvalid, AssessmentLocked
from services.casework.handlers import Actor
from shared.access import Gatekeeper, forbidden
from shared.auth import Principal, Refused, Role, principal
from shared.plans import PlanInvalid, PlanLocked

AgencyId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
PersonId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")]
# What a person wrote: any text but control characters (newlines and tabs allowed).
Note = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
Caller = Annotated[Principal, Depends(principal)]


def error(status: int, message: str, field: str | None = None) -> HTTPException:
    """Return an HTTP refusal: a sentence, or (422) the field at fault."""
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


_NOT_FOUND = (
    handlers.UnknownObligation,
    handlers.UnknownCase,
    handlers.UnknownAction,
    handlers.UnknownPlan,
    handlers.NoAssessment,
)


def refusals_as_http(call: Callable[[], Any]) -> Any:
    """Run a handler, turning the domain's refusals into HTTP answers."""
    try:
        return call()
    except _NOT_FOUND as found:
        raise error(404, f"not found: {type(found).__name__} {found}") from None
    except domain.NotActor as refused:
        raise error(403, str(refused)) from None
    except domain.InvalidInput as invalid:
        raise error(422, invalid.message, invalid.field) from None
    except AssessmentInvalid as invalid:
        raise error(422, invalid.message, invalid.field) from None
    except PlanInvalid as invalid:
        field = f"lines.{invalid.line_id}.{invalid.field}" if invalid.line_id else invalid.field
        raise error(422, invalid.message, field) from None
    except (domain.IllegalTransition, AssessmentLocked, PlanLocked) as illegal:
        raise error(409, str(illegal)) from None


def actor_of(who: Principal) -> Actor:
    """Return the person recording work: the token's subject (an id), agency and role."""
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
    """Wrap a handler so that a refused act (not the actor, not the holder) is audited."""

    def run() -> Any:
        try:
            return call()
        except domain.NotActor as refused:
            gate.refuse(who, action=action, case_id=None, reason=str(refused))
            raise

    return run


class ApprovalIn(BaseModel):
    """A head's approval; the agency is the token's (a body agency_id must match it)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: AgencyId | None = None


def same_agency(gate: Gatekeeper, who: Principal, body: ApprovalIn, action: str) -> None:
    """Refuse (audited) an approval whose body names another agency than the token's."""
    if body.agency_id is not None and body.agency_id != who.agency_id:
        reason = "agency_id names another agency than the token's"
        raise gate.refuse(who, action=action, case_id=None, reason=reason)
