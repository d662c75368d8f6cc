"""Children who come with an adult victim of domestic violence: each is a minor who witnessed it.

Rules 38874 p.1 and p.4 put a minor who witnessed violence in scope, and p.8 has whoever learns
of such a minor pass it on at once. So a report about an adult's domestic violence (from a family
support centre, a shelter, the police) that names the children who came with the adult gives
each child a case of its own, linked to the adult's. A child known only by number still gets a
case, with no personal data: the bodies that receive it identify the child when they go to the
scene and assess the child (p.12.3, p.21).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.contracts.intake import Concern, SubjectKind

# The most children one report may bring; the same bound as `accompanying_minors`.
MAX_CHILDREN = 20

# Violence against the adult in the family makes the children who saw it witnesses (p.1, p.4).
ADULT_VIOLENCE = frozenset({Concern.DOMESTIC_VIOLENCE, Concern.VIOLENCE, Concern.CRUELTY})

# The clause each child's case is opened under, shown on the link (Rules 38874 p.8).
CHILD_CASE_BASIS = "Rules 38874, p.1, p.4, p.8"
# A child known only by number: the receiving bodies identify the child (p.12.3, p.21).
UNIDENTIFIED_BASIS = "Rules 38874, p.12.3, p.21"


def check_children(
    children: Sequence[Any],
    *,
    subject_kind: SubjectKind | None,
    concerns: Sequence[Concern],
    count: int,
    subject_iin: str | None = None,
) -> None:
    """Refuse children listed on a report that cannot bring any, or listed inconsistently."""
    if not children:
        return
    if subject_kind is not SubjectKind.ADULT:
        raise ValueError("only a report about an adult victim lists the children with them")
    if not ADULT_VIOLENCE & set(concerns):
        raise ValueError("children are listed with a report of violence against the adult")
    if count and count < len(children):
        raise ValueError("accompanying_minors is fewer than the children listed")
    iins = [child.iin for child in children if child.iin]
    if len(iins) != len(set(iins)) or (subject_iin is not None and subject_iin in iins):
        raise ValueError("the same IIN is listed twice")


@dataclass(frozen=True)
class Accompanying:
    """The children a report brings: those it describes, and how many more are unnamed."""

    # Each child as the report describes it (a minor subject: name, birth date, IIN, ...).
    described: tuple[Any, ...]
    unidentified: int

    @property
    def total(self) -> int:
        """How many children came with the adult."""
        return len(self.described) + self.unidentified


def accompanying(
    *,
    subject_kind: SubjectKind,
    concerns: Sequence[Concern],
    children: Sequence[Any],
    count: int,
) -> Accompanying:
    """Return the children an adult's report brings (none for any other report)."""
    if subject_kind is not SubjectKind.ADULT or not ADULT_VIOLENCE & set(concerns):
        return Accompanying((), 0)
    described = tuple(children)
    return Accompanying(described, max(count - len(described), 0))


def child_report_update(child: Any) -> dict[str, Any]:
    """Return what a child's own report changes in the adult's: subject, concerns, facts.

    The adult's narrative, signs and flags are the adult's: the child's report carries none of
    them, only that the child witnessed violence.
    """
    return {
        "subject": child,
        "concerns": [Concern.WITNESSED_VIOLENCE],
        "signs": [],
        "life_threat": False,
        "needs_medical_help": False,
        "offence_signs": False,
        "no_parental_care": False,
        "child_removed": False,
        "child_removed_at": None,
        "refuses_police": False,
        "accompanying_minors": 0,
        "children": [],
        "narrative": None,
    }
