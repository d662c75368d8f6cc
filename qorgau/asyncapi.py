"""The event catalogue: the AsyncAPI document FastStream generates from every service's bus."""

from __future__ import annotations

from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI

from qorgau.registry import SERVICES, Service
from shared.bus import make_broker
from shared.contracts.envelope import Event

AGENCY_SUBJECT = "qorgau.agency.{agency_id}.{event}.v{version}"


def _document(registered: Service) -> NatsBroker:
    service = registered.name
    # A broker that never connects: subscribers and publishers are declared for the document.
    broker = make_broker("nats://127.0.0.1:1", service=service)
    module = registered.subscribers()
    module.register(broker, None)
    publishes: tuple[type[Event], ...] = getattr(module, "PUBLISHES", ())
    for event in publishes:
        broker.publisher(
            event.subject(service if event.SERVICE != service else None),
            schema=event,
            title=f"{service}: {event.subject(service)}",
            description=(event.__doc__ or "").strip().splitlines()[0],
        )
    for event in getattr(module, "DELIVERS", ()):
        broker.publisher(
            AGENCY_SUBJECT.format(agency_id="{agency_id}", event=event.NAME, version=event.VERSION),
            schema=event,
            title=f"{service}: delivery of {event.NAME} to an agency",
            description=(event.__doc__ or "").strip().splitlines()[0],
        )
    return broker


def generate(version: str = "1") -> str:
    """Return the AsyncAPI document of every event on `qorgau.>`, as JSON."""
    spec = AsyncAPI(
        *(_document(service) for service in SERVICES if service.bus),
        title="Qorgau events",
        version=version,
        description=(
            "Case events of the Qorgau platform. Subjects are qorgau.<service>.<event>.v<N>; "
            "agencies receive their work on qorgau.agency.<agency_id>.>. Events carry ids, "
            "codes, dates and flags, never personal data."
        ),
    )
    document: Any = spec.to_specification()
    return str(document.to_json())
