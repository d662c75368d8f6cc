"""Casework's handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: what casework learns from routing (`readmodel`), agencies' actions
(`actions`), the case at the child-rights body (`cases`); `common` holds what they share.
"""

from services.casework.handlers.actions import (
    Actor,
    Work,
    approve_action,
    on_agency_action,
    record_action,
)
from services.casework.handlers.cases import (
    LineForAgency,
    assign_manager,
    assign_plan_lines,
    close_case,
    meet_row,
)
from services.casework.handlers.common import (
    CaseworkDeps,
    NotYetKnown,
    UnknownAction,
    UnknownCase,
    UnknownObligation,
)
from services.casework.handlers.readmodel import (
    on_directory_entry,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
    on_referral_issued,
    seed_directory,
)

__all__ = [
    "Actor",
    "CaseworkDeps",
    "LineForAgency",
    "NotYetKnown",
    "UnknownAction",
    "UnknownCase",
    "UnknownObligation",
    "Work",
    "approve_action",
    "assign_manager",
    "assign_plan_lines",
    "close_case",
    "meet_row",
    "on_agency_action",
    "on_directory_entry",
    "on_obligation_cancelled",
    "on_obligation_fulfilled",
    "on_obligation_opened",
    "on_referral_issued",
    "record_action",
    "seed_directory",
]
