"""What every service's OpenAPI document says about refusals and about bodies routes read.

The bodies here are the ones the services send (shared.runtime.field_errors, shared.auth, the
routes' refusals), so that a client or a tool testing from the document (schemathesis in
tests/integration/test_fuzz_openapi.py) finds every answer described.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, WithJsonSchema

from shared.agencies import regions


class FieldProblem(BaseModel):
    """One bad field of a refused request; the bad value itself is never echoed."""

    field: str = Field(
        description='As the client wrote it: "limit", "subject.birth_date", "days_off.0", '
        '"body" for the body as a whole.'
    )
    message: str
    type: str = Field(description='What is wrong, e.g. "missing", "int_parsing", "value_error".')


class FieldProblems(BaseModel):
    """A 422: nothing was changed; one entry per bad field."""

    detail: list[FieldProblem]


class Refusal(BaseModel):
    """A 401, 403, 404, 409 or 503: why the request was refused, in one sentence."""

    detail: str


# A region code as the document describes it: the codes the services accept (each route checks
# it with shared.agencies.is_region), so that a tool sends real ones too.
Region = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "enum": sorted(regions()),
            "description": "ISO 3166-2 code of a region of Kazakhstan, e.g. KZ-75",
        }
    ),
]


_REFUSALS: dict[int, dict[str, Any]] = {
    401: {"model": Refusal, "description": "No valid bearer token."},
    403: {"model": Refusal, "description": "The caller may not do this (the refusal is audited)."},
    404: {"model": Refusal, "description": "Not found."},
    409: {"model": Refusal, "description": "Not a legal step from the current state."},
    422: {"model": FieldProblems, "description": "Bad input, named by field; nothing changed."},
    503: {"model": Refusal, "description": "The database is unavailable; retry after a pause."},
}


def refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of the refusals a route (or a router's routes) may answer."""
    return {code: _REFUSALS[code] for code in codes}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting the JSON body of a route that reads the body itself.

    Such a route validates with `model` after its own checks (a size limit, a clock in the
    validation context), so FastAPI does not see the body; the document still must.
    """
    schema = model.model_json_schema(mode="validation")
    definitions = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inlined(schema, definitions)}},
        }
    }


def _inlined(node: Any, definitions: dict[str, Any]) -> Any:
    # The operation's schema stands alone: each $defs reference is replaced by its definition.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = _inlined(definitions[ref.removeprefix("#/$defs/")], definitions)
            rest = {key: value for key, value in node.items() if key != "$ref"}
            return {**target, **_inlined(rest, definitions)}
        return {key: _inlined(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inlined(each, definitions) for each in node]
    return node
