"""Live sessions record the control plane that serves them (start-up repair spares live owners').

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("realtime_sessions") as batch:
        batch.add_column(sa.Column("owner", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("realtime_sessions") as batch:
        batch.drop_column("owner")
