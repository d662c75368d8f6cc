"""Deadlines' handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: obligations (opened, fulfilled, cancelled), the timer (breaches,
warnings, escalations), the calendar (day transfers) and the case timeline; `common` holds what
they share. The names below are the ones the rest of the service, the tests and the benchmark use.
"""

from services.deadlines.domain import Policy
from services.deadlines.handlers.calendar import (
    BadOverrides,
    CalendarChange,
    apply_calendar_change,
    load_overrides_file,
)
from services.deadlines.handlers.common import CalendarBook, DeadlinesDeps
from services.deadlines.handlers.obligations import (
    CANCELLED_INBOX,
    FULFILLED_INBOX,
    OPENED_INBOX,
    apply_obligation_cancelled,
    apply_obligation_fulfilled,
    apply_obligation_opened,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
)
from services.deadlines.handlers.poller import Poller
from services.deadlines.handlers.timeline import (
    TIMELINE_INBOX,
    apply_case_entry,
    case_entry,
    on_case_event,
)
from services.deadlines.handlers.timer import Fired, FireReport, _Batch, _breach, fire_due

__all__ = [
    "CANCELLED_INBOX",
    "FULFILLED_INBOX",
    "OPENED_INBOX",
    "TIMELINE_INBOX",
    "BadOverrides",
    "CalendarBook",
    "CalendarChange",
    "DeadlinesDeps",
    "FireReport",
    "Fired",
    "Policy",
    "Poller",
    "_Batch",
    "_breach",
    "apply_calendar_change",
    "apply_case_entry",
    "apply_obligation_cancelled",
    "apply_obligation_fulfilled",
    "apply_obligation_opened",
    "case_entry",
    "fire_due",
    "load_overrides_file",
    "on_case_event",
    "on_obligation_cancelled",
    "on_obligation_fulfilled",
    "on_obligation_opened",
]
