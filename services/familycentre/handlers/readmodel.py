"""What the centre learns from routing: the directory, and the obligations routing opened on a
family support centre (F7, F8 on a report), so the centre meets them rather than its own."""

from __future__ import annotations

from services.familycentre import domain
from services.familycentre.tables import CentreObligation, DirectoryAgency, PendingSettlement
from shared.obligationsview import ObligationsView

# The rows routing's catalogue opens on a family support centre: F7, the mobile group and an
# emergency response plan (Family Centre Rules 34499, p.22); F8, referring a person with signs
# of domestic violence to a shelter (p.24). tests/unit checks the catalogue still says so.
ROUTED_TO_CENTRE = frozenset({"F7", "F8"})


# The centre keeps only the obligations routing opened on a family support centre. A
# settlement of one of those codes before its opening is kept until the opening comes
# (shared.settlements); a settlement of any other code is not the centre's and is passed over.
OBLIGATIONS = ObligationsView(
    # Stored names (inbox rows): never to be renamed.
    service="familycentre",
    obligations=CentreObligation,
    directory=DirectoryAgency,
    directory_inbox="familycentre-directory",
    keeps=lambda event: event.actor_agency_type == domain.CENTRE and event.case_id is not None,
    pending=PendingSettlement,
    awaits=lambda code: code in ROUTED_TO_CENTRE,
)
seed_directory = OBLIGATIONS.seed_directory
on_obligation_opened = OBLIGATIONS.opened
on_obligation_fulfilled = OBLIGATIONS.fulfilled
on_obligation_cancelled = OBLIGATIONS.cancelled
on_directory_entry = OBLIGATIONS.directory_entry
