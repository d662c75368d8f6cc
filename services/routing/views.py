"""Routing's read models: read-only queries shaped for the API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import SQLModel

from services.routing import repository
from services.routing.tables import AgencyRow, Referral, RoutingObligation
from shared.access import CaseStanding
from shared.db import unit_of_work

_REFERRAL_FIELDS = (
    "referral_id",
    "case_id",
    "report_id",
    "code",
    "legal_basis",
    "purpose",
    "from_agency_type",
    "from_agency_id",
    "to_agency_type",
    "to_agency_id",
    "region",
    "status",
    "issued_at",
    "ack_due_at",
    "answered_at",
    "answered_via",
    "decline_reason",
    "unacknowledged_at",
    "obligation_id",
    "replaces_referral_id",
    "escalation_obligation_id",
)
_OBLIGATION_FIELDS = (
    "obligation_id",
    "case_id",
    "code",
    "legal_basis",
    "kind",
    "actor_agency_type",
    "actor_agency_id",
    "target_agency_type",
    "target_agency_id",
    "term",
    "started_at",
    "status",
    "met_at",
    "met_by_platform",
    "met_by_agency_id",
    "via_referral_id",
)


def _shaped(row: SQLModel, names: Sequence[str]) -> dict[str, Any]:
    values = {name: getattr(row, name) for name in names}
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in values.items()
    }


def referral_view(referral: Referral) -> dict[str, Any]:
    """Return a referral as the API shows it (`acting_for` where it stands in for a type)."""
    acting_for = (
        referral.role if referral.role and referral.role != referral.to_agency_type else None
    )
    return {
        **_shaped(referral, _REFERRAL_FIELDS),
        "acting_for": acting_for,
        # Every row this delivery carries, each with its clause and its own obligation.
        "rows": json.loads(referral.rows),
    }


def obligation_view(obligation: RoutingObligation) -> dict[str, Any]:
    """Return an obligation routing opened as the API shows it."""
    return _shaped(obligation, _OBLIGATION_FIELDS)


def agency_view(agency: AgencyRow) -> dict[str, Any]:
    """Return an agency of the directory as the API shows it."""
    return agency.model_dump()


def case_referrals(engine: Engine, *, case_id: str) -> list[dict[str, Any]]:
    """Return a case's referrals, oldest first."""
    with unit_of_work(engine) as session:
        return [referral_view(r) for r in repository.referrals_of_case(session, case_id=case_id)]


def case_obligations(engine: Engine, *, case_id: str) -> list[dict[str, Any]]:
    """Return every obligation routing opened for a case, oldest first."""
    with unit_of_work(engine) as session:
        rows = repository.obligations_of_case(session, case_id=case_id)
        return [obligation_view(o) for o in rows]


def inbox(engine: Engine, *, agency_id: str) -> list[dict[str, Any]]:
    """Return the referrals an agency has not answered yet."""
    with unit_of_work(engine) as session:
        rows = repository.open_referrals_of_agency(session, agency_id=agency_id)
        return [referral_view(r) for r in rows]


def referral(engine: Engine, *, referral_id: str) -> dict[str, Any] | None:
    """Return one referral, or None."""
    with unit_of_work(engine) as session:
        found = repository.get_referral(session, referral_id=referral_id)
        return referral_view(found) if found is not None else None


def agencies(
    engine: Engine, *, region: str | None, agency_type: str | None, active: bool | None
) -> list[dict[str, Any]]:
    """Return agencies of the directory, filtered by region, type and whether active."""
    with unit_of_work(engine) as session:
        rows = repository.agencies(session, region=region, agency_type=agency_type, active=active)
        return [agency_view(a) for a in rows]


def agency(engine: Engine, *, agency_id: str) -> dict[str, Any] | None:
    """Return one agency of the directory, or None."""
    with unit_of_work(engine) as session:
        found = repository.get_agency(session, agency_id=agency_id)
        return agency_view(found) if found is not None else None


def case_standing(engine: Engine, *, case_id: str, agency_id: str) -> CaseStanding:
    """Tell whether routing knows a case and whether the agency relates to it (or reported it)."""
    with unit_of_work(engine) as session:
        known, related = repository.case_standing(session, case_id=case_id, agency_id=agency_id)
    return CaseStanding(known=known, related=related)
