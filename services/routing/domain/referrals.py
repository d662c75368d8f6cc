"""A referral's lifecycle (issued -> acknowledged | declined -> re-routed | escalated).

Where a declined referral goes next, who receives an escalation, and when an agency may refer
a case on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from services.routing.domain.directory import Agency, escalation_target, resolve
from services.routing.domain.errors import (
    ConsentMissing,
    IllegalTransition,
    NoAgencyLeft,
    NotAddressee,
)
from services.routing.domain.rows import Rules


class ReferralStatus(StrEnum):
    """Where a referral stands."""

    ISSUED = "issued"
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"
    REROUTED = "rerouted"
    ESCALATED = "escalated"


_NEXT: dict[ReferralStatus, frozenset[ReferralStatus]] = {
    ReferralStatus.ISSUED: frozenset({ReferralStatus.ACKNOWLEDGED, ReferralStatus.DECLINED}),
    ReferralStatus.DECLINED: frozenset({ReferralStatus.REROUTED, ReferralStatus.ESCALATED}),
}


def transition(current: str, wanted: ReferralStatus) -> ReferralStatus:
    """Return the new status of a referral, or raise when the step is not allowed."""
    status = ReferralStatus(current)
    if wanted not in _NEXT.get(status, frozenset()):
        raise IllegalTransition(f"a referral {status.value} cannot become {wanted.value}")
    return wanted


def check_addressee(to_agency_id: str, answering_agency_id: str) -> None:
    """Raise unless the answering agency is the one the referral was delivered to."""
    if to_agency_id != answering_agency_id:
        raise NotAddressee("only the agency a referral was delivered to may answer it")


@dataclass(frozen=True)
class NextStep:
    """Where a declined referral goes: re-routed to an agency of its role, or escalated."""

    outcome: ReferralStatus
    agency: Agency
    role: str


def after_decline(
    *,
    role: str,
    region: str,
    declined: Iterable[str],
    directory: Sequence[Agency],
    rules: Rules,
) -> NextStep:
    """Choose where a declined referral goes; it never vanishes.

    Another agency of the role in the region (or of the type standing in for it), else the
    role's national body, else the region's last resort; every agency that already declined
    this case's referral is passed over. Raises NoAgencyLeft when nobody is left.
    """
    declined = set(declined)
    other = resolve(role, region, directory, rules, exclude=declined)
    if other is not None:
        return NextStep(ReferralStatus.REROUTED, other, role)
    found = escalation_target(role, region, directory, rules, exclude=declined)
    if found is not None:
        kind, agency = found
        return NextStep(ReferralStatus.ESCALATED, agency, kind)
    raise NoAgencyLeft(f"no agency is left to take a declined {role} referral in {region}")


def escalation_recipient(
    role: str, region: str, directory: Sequence[Agency], rules: Rules
) -> tuple[str, Agency]:
    """Return who receives a breach's escalation, and the type it acts as.

    The supervising type's agency in the region (or a stand-in), else its national body, else
    the region's last resort. Raises NoAgencyLeft when nobody is left.
    """
    agency = resolve(role, region, directory, rules)
    if agency is not None:
        return role, agency
    found = escalation_target(role, region, directory, rules)
    if found is None:
        raise NoAgencyLeft(f"no {role} in {region}, nor anybody above")
    return found


def check_referable(
    *,
    code: str,
    status: str,
    actor_agency_id: str | None,
    target_agency_type: str | None,
    agency_id: str,
    needs_consent: bool = False,
    consent: bool = False,
) -> str:
    """Return the type an open obligation asks its actor to refer to; raise unless it may.

    Only the agency that owes the obligation may meet it, only while it is open and names a
    type to refer to, and, where its row needs the person's consent, only with it.
    """
    if actor_agency_id != agency_id:
        raise NotAddressee("only the agency that owes the obligation may meet it")
    if status != "open" or not target_agency_type:
        raise IllegalTransition(f"obligation {code} is {status}, or names nobody to refer to")
    if needs_consent and not consent:
        raise ConsentMissing(f"{code}: the referral is made only with the person's consent")
    return target_agency_type


def referral_recipient(
    agency_type: str, region: str, directory: Sequence[Agency], rules: Rules
) -> Agency:
    """Return the agency a referral an agency decided on goes to; raise NoAgencyLeft if none."""
    agency = resolve(agency_type, region, directory, rules)
    if agency is None:
        raise NoAgencyLeft(f"no {agency_type} in {region} to refer to")
    return agency
