"""Deadlines' audit log: who read which case's obligations, and every refusal.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from shared.audit import create_audit_tables, drop_audit_tables

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_audit_tables()


def downgrade() -> None:
    drop_audit_tables()
