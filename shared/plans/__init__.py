"""One plan model for three services: casework, shelter and the family centre.

A plan (Rules 38874 Appendix 2; Guide p.9; Standard 14701 Appendix 1; Family Centre Rules
p.15-19) is a sequence of versions. A draft version is edited freely; the head's approval fixes
it; an approved version is never edited in place: `Plan.revise` opens the next draft, and the
history stays in `Plan.versions`. Lines are reported done or not done against the version in
force (`Plan.record_outcome`), monitoring is appended (`Plan.monitor`), and a plan ends on a
ground its kind allows (`Plan.end`).

Each service picks its kind: `REHABILITATION` (casework, R20), `EDUCATION_WORK` (the Guide's
plan, p.9), `FAMILY_WORK` (family centre, F5), `EMERGENCY_RESPONSE` (family centre, F7) and
`SHELTER_WORK` (shelter, S14). The model is
pure: no framework, no I/O; dates and times are passed in, and responsible organisations are
checked against whatever the caller passes as `agencies` (a set of agency ids of the routing
directory, or a callable that answers for one id). Every method returns a new `Plan` and leaves
the old one as it was; a refusal raises `PlanInvalid` (answer 422) or `PlanLocked` (answer
409), both naming the field in `.field` (and `.line_id` for a line's field).

    plan = Plan.draft("p1", REHABILITATION, "case-1", period_start=d1, period_end=d2)
    plan = plan.add_line(PlanLine("l1", "psychological", "sessions", d1, d3,
                                  responsible="psc-almaty-1"), agencies={"psc-almaty-1"})
    plan = plan.record_consent(Consent(name="...", given_on=d1))
    plan = plan.approve(by="head-person-id", at=now, agencies=directory_ids)
    plan = plan.record_outcome("l1", LineStatus.DONE, done_on=d4, result="...", today=d4)
    plan = plan.revise(reason="state changed", at=now)   # version 2, a draft
"""

from shared.plans.kinds import (
    EDUCATION_WORK,
    EMERGENCY_RESPONSE,
    FAMILY_WORK,
    PLAN_KINDS,
    REHABILITATION,
    SHELTER_WORK,
    LineKind,
    PlanKind,
    Responsible,
)
from shared.plans.model import (
    MONITORING_STATES,
    AgencyCheck,
    Approval,
    Consent,
    Ending,
    LineStatus,
    MonitoringEntry,
    Outcome,
    Plan,
    PlanError,
    PlanInvalid,
    PlanLine,
    PlanLocked,
    PlanVersion,
    SignOff,
    VersionStatus,
)

__all__ = [
    "EDUCATION_WORK",
    "EMERGENCY_RESPONSE",
    "FAMILY_WORK",
    "MONITORING_STATES",
    "PLAN_KINDS",
    "REHABILITATION",
    "SHELTER_WORK",
    "AgencyCheck",
    "Approval",
    "Consent",
    "Ending",
    "LineKind",
    "LineStatus",
    "MonitoringEntry",
    "Outcome",
    "Plan",
    "PlanError",
    "PlanInvalid",
    "PlanKind",
    "PlanLine",
    "PlanLocked",
    "PlanVersion",
    "Responsible",
    "SignOff",
    "VersionStatus",
]
