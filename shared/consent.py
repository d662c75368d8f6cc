"""The legal exceptions to consent: notifications the law makes mandatory.

Where the regulations ask for consent (a shelter application, Standard 14701 p.25 and
Appendix 4; a family centre interview, Family Centre Rules p.13; a parent's consent to a
rehabilitation plan, Rules 38874 Appendix 2), the service that asks keeps its own record.
Mandatory notifications go ahead without consent: `legal_basis_without_consent` names the
clause that allows each one, and the service records it with what it forwarded.
"""

from __future__ import annotations


class ConsentRequired(LookupError):
    """No legal basis allows this without consent."""


# Notifications the law makes mandatory: they go ahead without anyone's consent, and what is
# forwarded records the clause. Keys are the rows of REGULATIONS.md.
MANDATORY_NOTIFICATIONS: dict[str, str] = {
    "R1": "Rules 38874, p.8",
    "R3": "Rules 38874, p.10",
    "R5": "Rules 38874, p.11.2",
    "R6": "Rules 38874, p.11.3",
    "R7": "Rules 38874, p.12.1",
    "R12": "Rules 38874, p.12.6",
    "R13": "Rules 38874, p.12.7",
    "R14": "Rules 38874, p.13",
    "R15": "Rules 38874, p.14",
    "G3": "Guide, p.4",
    "G4": "Guide, p.5",
    "G6": "Guide, p.7",
    "G7": "Guide, p.12.2",
    "S5": "Standard 14701, p.30",
    "S12": "Standard 14701, p.35",
    "F10": "Family Centre Rules 34499, p.26",
}


def legal_basis_without_consent(code: str) -> str:
    """Return the clause that allows a mandatory notification without consent, or raise."""
    try:
        return MANDATORY_NOTIFICATIONS[code]
    except KeyError:
        raise ConsentRequired(f"{code}: no clause allows this without consent") from None
