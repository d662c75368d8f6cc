"""What the small benchmarks share: a sample event and a throwaway PostgreSQL database."""

from __future__ import annotations

import os
import uuid
from datetime import datetime

import psycopg

from shared.contracts.intake import ReportReceived

PG_ADMIN = os.environ.get("QORGAU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def sample_event(now: datetime) -> ReportReceived:
    """Return a report event with ids only, as intake publishes one."""
    return ReportReceived(
        occurred_at=now,
        case_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        report_id=uuid.uuid4(),
        reporter_agency_type="police",
        region="KZ-75",
        channel="duties",
        received_at=now,
        subject_kind="minor",
        concerns=("violence",),
    )


def throwaway_database(prefix: str) -> str | None:
    """Create a database on the PostgreSQL server and return its URL; None if none answers."""
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=2) as connection:
            name = f"{prefix}_{uuid.uuid4().hex[:8]}"
            connection.execute(f'CREATE DATABASE "{name}"')
    except Exception:
        return None
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    """Drop a database made by throwaway_database."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
