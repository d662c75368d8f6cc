"""Alembic environment: the shared runner, with this service's migrations."""

from shared.db import run_migrations_env

run_migrations_env()
