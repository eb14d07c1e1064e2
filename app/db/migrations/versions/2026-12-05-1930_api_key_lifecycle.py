"""Personal API keys can expire and be revoked: `expires_at`, `revoked_at`.

Revision ID: b3_api_key_lifecycle
Revises: 0001
Create Date: 2026-12-05 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b3_api_key_lifecycle"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "personal_api_keys", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "personal_api_keys", sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("personal_api_keys", "revoked_at")
    op.drop_column("personal_api_keys", "expires_at")
