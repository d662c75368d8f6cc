"""Each service's migrations build exactly the tables its models describe (SQLite, PostgreSQL).

A model changed without a migration, or a migration without its model, shows here as a
difference that Alembic's autogenerate would write into the next revision.
"""

from __future__ import annotations

import importlib
from pprint import pformat

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from shared.db import SCHEMA_COMPARISON, make_engine, migrate

SERVICES = ("intake", "routing", "deadlines", "casework", "shelter", "familycentre")


def target_metadata(service: str) -> MetaData:
    """Return the tables the service's migrations/env.py compares against."""
    module = importlib.import_module(f"services.{service}.migrations.metadata")
    metadata: MetaData = module.target_metadata
    return metadata


@pytest.mark.parametrize("service", SERVICES)
def test_upgraded_database_matches_the_models(service: str, db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine, service)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts=SCHEMA_COMPARISON)
            differences = compare_metadata(context, target_metadata(service))
    finally:
        engine.dispose()
    assert differences == [], f"{service}: schema and models differ:\n{pformat(differences)}"
