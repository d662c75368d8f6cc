"""What the centre learns from routing: the directory, and the obligations routing opened on a
family support centre (F7, F8 on a report), so the centre meets them rather than its own."""

from __future__ import annotations

from services.familycentre import domain
from services.familycentre.tables import CentreObligation, DirectoryAgency
from shared.obligationsview import ObligationsView

# The centre keeps only the obligations routing opened on a family support centre; a
# fulfilment of any other is not the centre's and is passed over.
OBLIGATIONS = ObligationsView(
    # Stored names (durables, inbox rows): never to be renamed.
    service="familycentre",
    obligations=CentreObligation,
    directory=DirectoryAgency,
    directory_inbox="familycentre-directory",
    keeps=lambda event: event.actor_agency_type == domain.CENTRE and event.case_id is not None,
)
seed_directory = OBLIGATIONS.seed_directory
on_obligation_opened = OBLIGATIONS.opened
on_obligation_fulfilled = OBLIGATIONS.fulfilled
on_obligation_cancelled = OBLIGATIONS.cancelled
on_directory_entry = OBLIGATIONS.directory_entry
