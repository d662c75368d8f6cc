"""The tables the family centre's migrations build: its own, and the shared ones its database
holds."""

from services.familycentre import tables
from shared import audit, inbox, outbox
from shared.db import metadata_of

target_metadata = metadata_of(tables, outbox, inbox, audit)
