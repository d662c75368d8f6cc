"""HTTP helpers every service's routes share: one body-size limit, refusals named by field."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from shared.runtime import field_errors
from shared.settings import ServiceSettings

# The setting's own default, for routers built without settings (tests, tools).
DEFAULT_MAX_BODY_BYTES: int = ServiceSettings.model_fields["max_body_bytes"].default

# An identifier in a path (a case, referral or obligation UUID, an agency id): letters, digits,
# "-" and "_". Anything else is refused before a query, so nothing the database rejects (a NUL
# byte: PostgreSQL text cannot hold one) reaches it.
PathId = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]

# Text a person reads (a name, a district): no control characters, NUL included.
PLAIN_TEXT = r"^[^\x00-\x1f\x7f]*$"


async def limited_body(request: Request, max_bytes: int) -> bytes | JSONResponse:
    """The request body, or a 422 naming the body once it grows past max_bytes."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            problem = f"request body over {max_bytes} bytes"
            return JSONResponse(
                {"detail": [{"field": "body", "message": problem, "type": "too_large"}]},
                status_code=422,
            )
    return bytes(body)


class FieldErrorsRoute(APIRoute):
    """A route whose bad query, path or body values answer 422 with one entry per field.

    The field is named as the client wrote it ("limit", "day", "days_off.0"), without where it
    came from, whichever app the router is mounted in.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, turning validation errors into field-named refusals."""
        handle = super().get_route_handler()

        async def by_field(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as error:
                errors = [
                    {**each, "loc": tuple(each.get("loc", ()))[1:]}
                    if tuple(each.get("loc", ()))[:1] in (("query",), ("path",))
                    else each
                    for each in error.errors()
                ]
                return JSONResponse({"detail": field_errors(errors)}, status_code=422)

        return by_field
