"""The family centre's HTTP routes: they call handlers or views, never build queries.

`appeals`: appeals, first response, assessment, needs (F1-F4); `plans`: the individual work
plan and the emergency plan (F5-F7); `support`: mobile groups, shelter referral, stays, figures;
`stays`: rooms, a stay's extension, the measures of p.23; `documents`: the printed plans and
the F10 notice.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter

from services.familycentre.api.appeals import routes_of_appeals
from services.familycentre.api.documents import routes_of_documents
from services.familycentre.api.plans import routes_of_plans
from services.familycentre.api.stays import routes_of_stays
from services.familycentre.api.support import routes_of_support
from services.familycentre.handlers import CentreDeps
from shared.access import Gatekeeper


def router(
    deps: CentreDeps, *, gate: Gatekeeper, wake_relay: Callable[[], None] | None = None
) -> APIRouter:
    """Build the centre's routes; every one needs a token."""
    routes = APIRouter()
    routes.include_router(routes_of_appeals(deps, gate=gate, wake_relay=wake_relay))
    routes.include_router(routes_of_plans(deps, gate=gate, wake_relay=wake_relay))
    routes.include_router(routes_of_support(deps, gate=gate, wake_relay=wake_relay))
    routes.include_router(routes_of_stays(deps, gate=gate, wake_relay=wake_relay))
    routes.include_router(routes_of_documents(deps, gate=gate))
    return routes
