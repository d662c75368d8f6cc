"""Alembic environment: the shared runner, with this service's migrations and tables."""

from services.familycentre.migrations.metadata import target_metadata
from shared.db import run_migrations_env

run_migrations_env(target_metadata)
