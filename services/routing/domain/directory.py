"""The directory: agencies, who acts as a type in a region, and the directory's own rules."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.routing.domain.errors import DirectoryError, DirectoryInvalid
from services.routing.domain.rows import Rules


@dataclass(frozen=True)
class Agency:
    """An agency of the directory (a national body has no region)."""

    agency_id: str
    agency_type: str
    region: str | None
    active: bool = True


@dataclass(frozen=True)
class Party:
    """Who acts or is told: an agency type, and the agency's id where it is known."""

    agency_type: str
    agency_id: str | None = None

    @property
    def key(self) -> str:
        """Return a stable name for the party in duty keys."""
        return self.agency_id or f"type:{self.agency_type}"


def candidates(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> list[tuple[str, Agency]]:
    """Return the agencies that act as a type in a region, best first, with the type they are.

    The type's own agencies (regional before national) not excluded; only where the region
    has no active one at all, those of the first type that stands in for it (Rules 38874 p.8,
    p.12, p.17, p.21: the guardianship body).
    """
    excluded = set(exclude)
    for kind in (agency_type, *rules.stand_ins.get(agency_type, ())):
        active = [
            a
            for a in directory
            if a.active and a.agency_type == kind and a.region in (region, None)
        ]
        of_kind = sorted(
            (a for a in active if a.agency_id not in excluded),
            key=lambda a: (a.region is None, a.agency_id),
        )
        if of_kind:
            return [(kind, a) for a in of_kind]
        if active:
            # "ал ол болмаған жағдайда": the stand-in acts only where the region has no such
            # body; one that declined is escalated, not handed to the stand-in.
            return []
    return []


def resolve(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> Agency | None:
    """Find the agency that acts as a type in a region, or None."""
    found = candidates(agency_type, region, directory, rules, exclude=exclude)
    return found[0][1] if found else None


def roles_of(agency_type: str, region: str, directory: Sequence[Agency], rules: Rules) -> list[str]:
    """Return the types an agency acts as in a region: its own, and those it stands in for."""
    roles = [agency_type]
    for role, stand_ins in rules.stand_ins.items():
        if agency_type in stand_ins and not any(
            a.active and a.agency_type == role and a.region in (region, None) for a in directory
        ):
            roles.append(role)
    return roles


def escalation_target(
    agency_type: str,
    region: str,
    directory: Sequence[Agency],
    rules: Rules,
    *,
    exclude: Iterable[str] = (),
) -> tuple[str, Agency] | None:
    """Return who takes what no agency of a type is left for: national body or last resort.

    Returns the type it acts as and the agency, or None.
    """
    excluded = set(exclude)
    for kind in (rules.supervisors.get(agency_type), rules.last_resort):
        if kind is None:
            continue
        agency = resolve(kind, region, directory, rules, exclude=excluded)
        if agency is not None:
            return kind, agency
    return None


def check_directory_entry(
    agency: Agency, *, rules: Rules, others: Sequence[Agency], regions: Iterable[str]
) -> None:
    """Raise unless an agency fits the directory: national bodies are one per country."""
    if agency.agency_type in rules.national_types:
        if agency.region is not None:
            raise DirectoryInvalid(
                "region", f"a {agency.agency_type} is national: it has no region"
            )
        if agency.active and any(
            o.active and o.agency_type == agency.agency_type and o.agency_id != agency.agency_id
            for o in others
        ):
            raise DirectoryError(
                f"there is already an active {agency.agency_type}: one per country"
            )
        return
    if agency.region is None:
        raise DirectoryInvalid("region", f"a {agency.agency_type} belongs to a region")
    if agency.region not in set(regions):
        raise DirectoryInvalid("region", f"unknown region {agency.region!r}")
