"""What casework's routes share: input types, the caller, refusals as HTTP answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field

from services.casework import domain, handlers
from services.casework.assessment import AssessmentInvalid, AssessmentLocked
from services.casework.handlers import Actor
from shared.access import Gatekeeper
from shared.auth import Principal, Role, principal
from shared.httprefusals import Refusals
from shared.httprefusals import checked as checked
from shared.httprefusals import error as error
from shared.plans import PlanInvalid, PlanLocked

AgencyId = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9_-]+$")]
PersonId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9_.:@-]+$")]
# What a person wrote: any text but control characters (newlines and tabs allowed).
Note = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"^[^\x00-\x08\x0b-\x1f\x7f]*$")]
Caller = Annotated[Principal, Depends(principal)]


REFUSALS = Refusals(
    not_found=(
        handlers.UnknownObligation,
        handlers.UnknownCase,
        handlers.UnknownAction,
        handlers.UnknownPlan,
        handlers.NoAssessment,
    ),
    not_actor=(domain.NotActor,),
    invalid=(domain.InvalidInput, AssessmentInvalid, PlanInvalid),
    illegal=(domain.IllegalTransition, AssessmentLocked, PlanLocked),
)
# Run a handler with casework's refusals as HTTP answers; audit its refused acts.
refusals_as_http = REFUSALS.as_http
on_record = REFUSALS.on_record


def actor_of(who: Principal) -> Actor:
    """Return the person recording work: the token's subject (an id), agency and role."""
    return Actor(
        person_id=who.subject,
        agency_id=who.agency_id,
        agency_type=who.agency_type,
        region=who.region,
        is_head=who.role is Role.HEAD,
    )


class ApprovalIn(BaseModel):
    """A head's approval; the agency is the token's (a body agency_id must match it)."""

    model_config = ConfigDict(extra="forbid")

    agency_id: AgencyId | None = None


def same_agency(gate: Gatekeeper, who: Principal, body: ApprovalIn, action: str) -> None:
    """Refuse (audited) an approval whose body names another agency than the token's."""
    if body.agency_id is not None and body.agency_id != who.agency_id:
        reason = "agency_id names another agency than the token's"
        raise gate.refuse(who, action=action, case_id=None, reason=reason)
