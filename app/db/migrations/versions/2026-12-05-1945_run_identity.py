"""Run identity per (team, evaluation): the primary key of evaluation_runs becomes
(team_id, evaluation_id, id), so another team's or another evaluation's run id never collides.

Revision ID: b2_run_identity
Revises: b4_summary_lease
Create Date: 2026-12-05 19:45:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b2_run_identity"
down_revision: str | None = "b4_summary_lease"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_constraint("pk_evaluation_runs", "evaluation_runs", type_="primary")
    op.create_primary_key(
        "pk_evaluation_runs", "evaluation_runs", ["team_id", "evaluation_id", "id"]
    )


def downgrade() -> None:
    # Ids are unique per (team, evaluation) only: before the key on `id` alone can come back,
    # every repeated id keeps its first stored row and loses the others.
    op.execute(
        "DELETE FROM evaluation_runs AS later USING evaluation_runs AS earlier "
        "WHERE later.id = earlier.id AND later.ctid > earlier.ctid"
    )
    op.drop_constraint("pk_evaluation_runs", "evaluation_runs", type_="primary")
    op.create_primary_key("pk_evaluation_runs", "evaluation_runs", ["id"])
