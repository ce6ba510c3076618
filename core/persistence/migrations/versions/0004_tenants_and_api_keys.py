"""Tenants: a ``tenant`` on sessions, jobs and speakers (existing rows join the default tenant); API keys.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TENANT_TABLES = {"realtime_sessions": "ix_realtime_sessions", "jobs": "ix_jobs", "speakers": "ix_speakers"}


def upgrade() -> None:
    for table, index_prefix in _TENANT_TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("tenant", sa.String(64), nullable=False, server_default="default"))
        op.create_index(f"{index_prefix}_tenant_created_at_id", table, ["tenant", "created_at", "id"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("key_prefix", sa.String(16), nullable=False),
        sa.Column("tenant", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    for table, index_prefix in _TENANT_TABLES.items():
        op.drop_index(f"{index_prefix}_tenant_created_at_id", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
