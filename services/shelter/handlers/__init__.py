"""Shelter's handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: `arrival` (application, referral, children, what intake is told),
`steps` (screening to social protection's decision), `contract` (the contract and leaving),
`reports` (sending what intake is owed); `common` holds what they share.
"""

from services.shelter.handlers.arrival import ArrivalIn, on_referral_issued, open_stay
from services.shelter.handlers.capacity import capacity_report, set_capacity
from services.shelter.handlers.care import (
    SERVICE_KINDS,
    PlanIn,
    approve_plan,
    assess_needs,
    confirm_portal,
    extend,
    fill_card,
    monitor,
    resume,
    save_plan,
    suspend,
)
from services.shelter.handlers.common import (
    Actor,
    Agency,
    ShelterDeps,
    UnknownReferral,
    UnknownStay,
    load_directory,
)
from services.shelter.handlers.contract import end_stay, readmit_at_once, sign_contract
from services.shelter.handlers.reports import send_pending
from services.shelter.handlers.steps import (
    SheetIn,
    decide,
    general_services,
    identify,
    police_refusal,
    readmit,
    screen,
    send_decision,
    send_sheet,
    stop_services,
)

__all__ = [
    "SERVICE_KINDS",
    "Actor",
    "Agency",
    "ArrivalIn",
    "PlanIn",
    "SheetIn",
    "ShelterDeps",
    "UnknownReferral",
    "UnknownStay",
    "approve_plan",
    "assess_needs",
    "capacity_report",
    "confirm_portal",
    "decide",
    "end_stay",
    "extend",
    "fill_card",
    "general_services",
    "identify",
    "load_directory",
    "monitor",
    "on_referral_issued",
    "open_stay",
    "police_refusal",
    "readmit",
    "readmit_at_once",
    "resume",
    "save_plan",
    "screen",
    "send_decision",
    "send_pending",
    "send_sheet",
    "set_capacity",
    "sign_contract",
    "stop_services",
    "suspend",
]
