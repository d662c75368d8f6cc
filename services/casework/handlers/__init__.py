"""Casework's handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: what casework learns from routing (`readmodel`), agencies' actions
(`actions`), the case at the child-rights body (`cases`); `common` holds what they share.
"""

from services.casework.handlers.actions import (
    Work,
    approve_action,
    on_agency_action,
    record_action,
)
from services.casework.handlers.assessments import (
    NoAssessment,
    approve_assessment,
    correct_assessment,
    read_assessment,
    save_assessment,
)
from services.casework.handlers.cases import assign_manager, close_case
from services.casework.handlers.common import (
    Actor,
    CaseworkDeps,
    UnknownAction,
    UnknownCase,
    UnknownObligation,
)
from services.casework.handlers.plans import (
    PlanDraft,
    UnknownPlan,
    approve_plan,
    create_plan,
    plan_of_case,
    put_line,
    read_plan,
    record_consent,
    remove_line,
    revise_plan,
)
from services.casework.handlers.readmodel import (
    OBLIGATIONS,
    apply_due_time,
    due_time_inbox,
    on_directory_entry,
    on_due_time,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
    on_referral_issued,
    seed_directory,
)

__all__ = [
    "OBLIGATIONS",
    "Actor",
    "CaseworkDeps",
    "NoAssessment",
    "PlanDraft",
    "UnknownAction",
    "UnknownCase",
    "UnknownObligation",
    "UnknownPlan",
    "Work",
    "apply_due_time",
    "approve_action",
    "approve_assessment",
    "approve_plan",
    "assign_manager",
    "close_case",
    "correct_assessment",
    "create_plan",
    "due_time_inbox",
    "on_agency_action",
    "on_directory_entry",
    "on_due_time",
    "on_obligation_cancelled",
    "on_obligation_fulfilled",
    "on_obligation_opened",
    "on_referral_issued",
    "plan_of_case",
    "put_line",
    "read_assessment",
    "read_plan",
    "record_action",
    "record_consent",
    "remove_line",
    "revise_plan",
    "save_assessment",
    "seed_directory",
]
