"""The family centre's handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: `appeals` (p.12-14, F1-F4), `plans` (F5, F6, the emergency plan of F7),
`support` (mobile groups F7, shelter referral F8, stays F9-F10), `stays` (rooms, extensions, the
measures of p.23), `reports` (what the centre owes intake), `readmodel` (what routing says);
`common` holds what they share.
"""

from services.familycentre.handlers.appeals import (
    AppealDraft,
    first_response,
    held_appeal,
    on_referral_issued,
    record_appeal,
    record_assessment,
    record_needs,
)
from services.familycentre.handlers.common import (
    Actor,
    CentreDeps,
    UnknownAgency,
    UnknownAppeal,
    UnknownGroup,
    UnknownPlan,
    UnknownStay,
)
from services.familycentre.handlers.plans import (
    approve_plan,
    change_plan,
    create_plan,
    end_plan,
    on_agency_line_report,
    put_line,
    read_plan,
    record_outcome,
    revise_plan,
)
from services.familycentre.handlers.readmodel import (
    OBLIGATIONS,
    ROUTED_TO_CENTRE,
    on_directory_entry,
    on_obligation_cancelled,
    on_obligation_fulfilled,
    on_obligation_opened,
    seed_directory,
)
from services.familycentre.handlers.reports import send_pending
from services.familycentre.handlers.stays import (
    MeasureDraft,
    declare_room,
    extend_stay,
    record_measure,
    rooms_of,
)
from services.familycentre.handlers.support import (
    StayDraft,
    admit,
    end_stay,
    engage_group,
    refer_to_shelter,
    register_group,
)

__all__ = [
    "OBLIGATIONS",
    "ROUTED_TO_CENTRE",
    "Actor",
    "AppealDraft",
    "CentreDeps",
    "MeasureDraft",
    "StayDraft",
    "UnknownAgency",
    "UnknownAppeal",
    "UnknownGroup",
    "UnknownPlan",
    "UnknownStay",
    "admit",
    "approve_plan",
    "change_plan",
    "create_plan",
    "declare_room",
    "end_plan",
    "end_stay",
    "engage_group",
    "extend_stay",
    "first_response",
    "held_appeal",
    "on_agency_line_report",
    "on_directory_entry",
    "on_obligation_cancelled",
    "on_obligation_fulfilled",
    "on_obligation_opened",
    "on_referral_issued",
    "put_line",
    "read_plan",
    "record_appeal",
    "record_assessment",
    "record_measure",
    "record_needs",
    "record_outcome",
    "refer_to_shelter",
    "register_group",
    "revise_plan",
    "rooms_of",
    "seed_directory",
    "send_pending",
]
