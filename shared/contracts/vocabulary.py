"""Values of the obligation contract that services compare against, defined once.

Standard library only, so a service's domain may import it.
"""

from __future__ import annotations

from enum import StrEnum

# The term of a row whose text sets none (R2, R16, R20, F4, F6): tracked and listed, never due.
NO_TERM = "none"


class ObligationStatus(StrEnum):
    """Where an obligation stands."""

    OPEN = "open"
    MET = "met"
    BREACHED = "breached"
    CANCELLED = "cancelled"
