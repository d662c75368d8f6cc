"""Casework's HTTP routes: they call handlers or read models, never build queries.

`work`: actions with proof on obligations, approvals, the caseload, the case manager, closing;
`records`: the primary assessment and the rehabilitation plan; `documents`: their printed forms.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from services.casework.api.documents import routes_of_documents
from services.casework.api.records import routes_of_records
from services.casework.api.work import routes_of_work
from services.casework.handlers import CaseworkDeps
from shared.access import Gatekeeper
from shared.crypto import FieldCipher


def router(
    deps: CaseworkDeps,
    *,
    gate: Gatekeeper,
    cipher: FieldCipher,
    wake_relay: Callable[[], None] | None = None,
) -> APIRouter:
    """Build casework's routes; every one needs a token, and case data a relation to the case."""
    routes = APIRouter()
    routes.include_router(routes_of_work(deps, gate=gate, cipher=cipher, wake_relay=wake_relay))
    routes.include_router(routes_of_records(deps, gate=gate, wake_relay=wake_relay))
    routes.include_router(routes_of_documents(deps, gate=gate))
    return routes
