"""Summary leases: single flight for identical summaries without holding a pooled connection.

Revision ID: b4_summary_lease
Revises: b3_api_key_lifecycle
Create Date: 2026-12-05 19:35:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b4_summary_lease"
down_revision: str | None = "b3_api_key_lifecycle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "summary_leases",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.Uuid(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_summary_leases_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("team_id", "cache_key", name=op.f("pk_summary_leases")),
    )


def downgrade() -> None:
    op.drop_table("summary_leases")
