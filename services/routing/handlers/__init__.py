"""Routing's handlers: load, ask the domain, stage events in the outbox, commit.

One module per concern: the directory, reports, agencies' answers, escalations; `common` holds
what they share and `delivery` carries out a decision.
"""

from services.routing.handlers.answers import (
    Declined,
    acknowledge_referral,
    decline_referral,
    on_agency_acknowledgement,
    on_agency_decline,
    refer,
)
from services.routing.handlers.common import (
    DEFAULT_ACK_TIMEOUT,
    CaseNotYetRouted,
    RoutingDeps,
    UnknownAgency,
    UnknownObligation,
    UnknownReferral,
)
from services.routing.handlers.directory import change_agency, register_agency, seed_directory
from services.routing.handlers.escalations import check_unacknowledged, on_obligation_escalated
from services.routing.handlers.plans import on_plan_line_assigned
from services.routing.handlers.reports import on_report_joined, on_report_received

__all__ = [
    "DEFAULT_ACK_TIMEOUT",
    "CaseNotYetRouted",
    "Declined",
    "RoutingDeps",
    "UnknownAgency",
    "UnknownObligation",
    "UnknownReferral",
    "acknowledge_referral",
    "change_agency",
    "check_unacknowledged",
    "decline_referral",
    "on_agency_acknowledgement",
    "on_agency_decline",
    "on_obligation_escalated",
    "on_plan_line_assigned",
    "on_report_joined",
    "on_report_received",
    "refer",
    "register_agency",
    "seed_directory",
]
