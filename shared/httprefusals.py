"""A service's refusals as HTTP answers: which of its exceptions answer 404, 403, 422 and 409,
and the refused acts that go to the audit log. Each service names its own exceptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from fastapi import HTTPException
from starlette.concurrency import run_in_threadpool

from shared.access import Gatekeeper, forbidden
from shared.auth import Principal, Refused

Refusal = type[Exception]


class Invalid(Protocol):
    """A refusal of input: the field at fault (and a plan's line, when it has one)."""

    message: str
    field: str


def error(status: int, message: str, field: str | None = None) -> HTTPException:
    """Return an HTTP refusal: a sentence, or (422) the field at fault."""
    detail: Any = (
        message if field is None else [{"field": field, "message": message, "type": "value_error"}]
    )
    return HTTPException(status_code=status, detail=detail)


def _field_of(invalid: Invalid) -> str:
    line_id = getattr(invalid, "line_id", None)
    # A plan's refusal names the line its field is on (shared.plans.PlanInvalid).
    return f"lines.{line_id}.{invalid.field}" if line_id else invalid.field


@dataclass(frozen=True)
class Refusals:
    """Which of a service's exceptions answer which status."""

    # 404: what the request names does not exist.
    not_found: tuple[Refusal, ...]
    # 403: the caller's agency may not take this step (audited by `on_record`).
    not_actor: tuple[Refusal, ...]
    # 422 naming the field: each has `message` and `field` (see Invalid).
    invalid: tuple[Refusal, ...]
    # 409: not a legal step from the current state.
    illegal: tuple[Refusal, ...]

    def as_http(self, call: Callable[[], Any]) -> Any:
        """Run a handler, turning the service's refusals into HTTP answers."""
        try:
            return call()
        except self.not_found as found:
            raise error(404, f"not found: {type(found).__name__} {found}") from None
        except self.not_actor as refused:
            raise error(403, str(refused)) from None
        except self.invalid as refused:
            invalid = cast("Invalid", refused)
            raise error(422, invalid.message, _field_of(invalid)) from None
        except self.illegal as illegal:
            raise error(409, str(illegal)) from None

    def on_record(
        self, gate: Gatekeeper, who: Principal, action: str, call: Callable[[], Any]
    ) -> Callable[[], Any]:
        """Wrap a handler so that a refused act (not the actor, not the holder) is audited."""

        def run() -> Any:
            try:
                return call()
            except self.not_actor as refused:
                gate.refuse(who, action=action, case_id=None, reason=str(refused))
                raise

        return run


async def checked(call: Callable[[], Any]) -> Any:
    """Run a blocking access check (or read) off the loop; a refusal answers 403."""
    try:
        return await run_in_threadpool(call)
    except Refused as refused:
        raise forbidden(refused) from None
