"""What routing's handlers share: their dependencies, their errors, envelopes and spans."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from sqlalchemy import Engine

from services.routing import catalogue, domain
from services.routing.tables import Referral
from shared.clock import Clock
from shared.contracts.envelope import Event
from shared.telemetry import AGENCY_ID, AGENCY_TYPE, CASE_ID, OBLIGATION_CODE

DEFAULT_ACK_TIMEOUT = timedelta(hours=1)


class UnknownReferral(LookupError):
    """No referral has this id (answered 404)."""


class UnknownAgency(LookupError):
    """No agency of the directory has this id (answered 404)."""


class UnknownObligation(LookupError):
    """Routing opened no obligation with this id (answered 404)."""


class CaseNotYetRouted(LookupError):
    """A joined report arrived before the case's first report: retried until it is routed."""


@dataclass
class RoutingDeps:
    """What routing's handlers need, built by the composition root."""

    engine: Engine
    clock: Clock
    tracer: trace.Tracer
    rules: domain.Rules = field(default_factory=catalogue.load)
    # Past this an unanswered referral raises referral_unacknowledged (ROUTING_ACK_TIMEOUT).
    ack_timeout: timedelta = DEFAULT_ACK_TIMEOUT


def new_envelope(
    now: datetime,
    *,
    cause: Event | None = None,
    referral: Referral | None = None,
    case_id: str | None = None,
    correlation_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return the envelope fields of an event routing stages now.

    It follows the event that caused it; else it is correlated with the report that brought
    the referral's (or the case's) case; else, as a directory change, with nothing but itself.
    """
    fields: dict[str, Any]
    if cause is not None:
        fields = cause.follow()
    elif referral is not None:
        fields = {
            "case_id": uuid.UUID(referral.case_id),
            "correlation_id": uuid.UUID(referral.report_id or referral.case_id),
        }
    elif case_id is not None:
        fields = {
            "case_id": uuid.UUID(case_id),
            "correlation_id": uuid.UUID(correlation_id or case_id),
        }
    else:
        fields = {"correlation_id": uuid.uuid4()}
    return {**fields, "producer": "routing", "occurred_at": now, **extra}


def uuid_or_none(value: str | None) -> uuid.UUID | None:
    """Return the UUID a stored id names, or None where there is none."""
    return uuid.UUID(value) if value else None


@contextmanager
def decision_span(
    deps: RoutingDeps,
    code: str,
    *,
    decision: str,
    case_id: str | None,
    agency_type: str | None,
    agency_id: str | None,
    legal_basis: str,
    obligation_id: str | None,
    **details: str | None,
) -> Iterator[None]:
    """Trace one routing decision under its row: ids, codes and types, never personal data."""
    with deps.tracer.start_as_current_span(f"routing.decide {code}") as span:
        attributes = {
            CASE_ID: case_id,
            OBLIGATION_CODE: code,
            AGENCY_TYPE: agency_type,
            AGENCY_ID: agency_id,
            "qorgau.decision": decision,
            "qorgau.legal_basis": legal_basis,
            "qorgau.obligation_id": obligation_id,
            **{f"qorgau.{name}": value for name, value in details.items()},
        }
        for name, value in attributes.items():
            if value is not None:
                span.set_attribute(name, value)
        yield
