"""Events routing publishes (besides the obligation contract it shares with other services)."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event


class ReferralIssued(Event):
    """Routing delivered a case to an agency, citing the row and clause that require it."""

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "referral_issued"

    referral_id: UUID
    report_id: UUID | None = None
    code: str
    legal_basis: str
    from_agency_type: str
    from_agency_id: str | None = None
    to_agency_type: str
    to_agency_id: str
    region: str
    issued_at: AwareDatetime
