"""Each shelter's free places, from the shelter's `capacity_changed`, and where a referral to a
shelter goes: one with room in the region, else the supervisor, escalated.

Standard 14701 p.25 admits a person on a referral from social protection, healthcare or the
police (S1), Family Centre Rules p.24 on the centre's (F8); a shelter with no free place cannot
admit, so routing passes it over for the next one in the region (as if it had declined with
`no_capacity`, the decline ladder of routing's referrals), and where none has room, the referral
goes up that ladder with `referral_escalated` (`cause: no_capacity`) so the gap is seen at once.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from services.routing import domain
from services.routing.domain import ReferralStatus
from services.routing.handlers.common import RoutingDeps
from services.routing.tables import Referral, ShelterPlaces
from shared.contracts.routing import ReferralEscalated, ReferralPurpose
from shared.contracts.shelter import CapacityChanged
from shared.db import unit_of_work
from shared.inbox import claim
from shared.outbox import stage

log = logging.getLogger(__name__)

SHELTER = "shelter"
NO_CAPACITY = "no_capacity"


def on_capacity_changed(event: CapacityChanged, *, deps: RoutingDeps) -> None:
    """Keep a shelter's free places as it last reported them (an older report changes nothing)."""
    now = deps.clock.now()
    with unit_of_work(deps.engine) as session:
        if not claim(
            session, consumer="routing-capacity_changed", event_id=str(event.event_id), now=now
        ):
            return
        row = session.get(ShelterPlaces, event.shelter_agency_id)
        if row is not None and row.reported_at > event.occurred_at:
            session.commit()
            return
        row = row or ShelterPlaces(
            agency_id=event.shelter_agency_id, region=event.region, reported_at=event.occurred_at
        )
        row.region = event.region
        row.beds = event.beds
        row.occupied = event.occupied
        row.free = event.free
        row.reported_at = event.occurred_at
        session.add(row)
        session.commit()


def full_shelters(session: Session, *, region: str) -> set[str]:
    """Return the shelters of a region that last reported no free place."""
    rows = session.exec(
        select(ShelterPlaces).where(ShelterPlaces.region == region)  # type: ignore[arg-type]
    ).all()
    return {row.agency_id for row in rows if row.free is not None and row.free <= 0}


@dataclass(frozen=True)
class ShelterChoice:
    """Where a referral to a shelter goes; `escalated` when no shelter of the region has room."""

    agency: domain.Agency
    role: str
    escalated: bool

    @property
    def purpose(self) -> str:
        """The referral's purpose: the transfer itself, or an escalation to the supervisor."""
        return (
            ReferralPurpose.ESCALATION.value if self.escalated else ReferralPurpose.TRANSFER.value
        )


def choose_shelter(
    session: Session,
    *,
    region: str,
    directory: Sequence[domain.Agency],
    rules: domain.Rules,
    preferred: domain.Agency | None = None,
) -> ShelterChoice:
    """Choose a shelter with room in the region (the preferred one if it has), else escalate.

    A full shelter is passed over as a `no_capacity` decline would pass it (p.25; routing's
    decline ladder); raises NoAgencyLeft when nobody is left at all.
    """
    full = full_shelters(session, region=region)
    if preferred is not None and preferred.agency_id not in full:
        return ShelterChoice(preferred, SHELTER, escalated=False)
    step = domain.after_decline(
        role=SHELTER, region=region, declined=full, directory=directory, rules=rules
    )
    return ShelterChoice(step.agency, step.role, escalated=step.outcome is ReferralStatus.ESCALATED)


def stage_no_room(
    session: Session,
    referral: Referral,
    *,
    envelope: dict[str, Any],
    now: datetime,
) -> None:
    """Tell that no shelter of the region had room: the referral went to the supervisor."""
    log.warning(
        "no shelter with room in %s: referral %s escalated to %s",
        referral.region,
        referral.referral_id,
        referral.to_agency_id,
    )
    stage(
        session,
        ReferralEscalated(
            **envelope,
            new_referral_id=uuid.UUID(referral.referral_id),
            declined_referral_id=None,
            code=referral.code,
            cause=NO_CAPACITY,
            unresolved_agency_type=SHELTER,
            to_agency_type=referral.to_agency_type,
            to_agency_id=referral.to_agency_id,
            region=referral.region,
        ),
        now=now,
    )
