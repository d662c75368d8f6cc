"""Alerts operators watch: something the platform could not do on its own."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import AwareDatetime

from shared.contracts.envelope import Event
from shared.contracts.intake import SubjectKind


class UnroutedReason(StrEnum):
    """Why a report opened nothing."""

    # No row of any act was in force on the day the report was received.
    NO_ROW_IN_FORCE = "no_row_in_force"
    # Rows were in force, but none applies to the report's facts.
    NO_ROW_APPLIES = "no_row_applies"


class ReportUnrouted(Event):
    """Routing opened no referral and no obligation for a new case: an operator must look.

    Every accepted report is owed at least its notices under the acts in force on its day;
    a report that yields no row would otherwise be sent to no one, silently.
    """

    SERVICE: ClassVar[str] = "routing"
    NAME: ClassVar[str] = "report_unrouted"

    report_id: UUID
    region: str
    subject_kind: SubjectKind
    received_at: AwareDatetime
    reason: UnroutedReason
