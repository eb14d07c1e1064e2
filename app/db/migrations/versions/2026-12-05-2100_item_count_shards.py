"""Item counts in shards: `dataset_item_counts` rows, one per dataset and backend shard, replace
the `datasets.item_count` column so that concurrent item writers stop queueing on the dataset's
row.

The three statement-level triggers of b5_bulk_items keep their transition tables; their
functions now upsert the statement's delta into shard `pg_backend_pid() % 16`: a backend always
writes the same shard, so two backends rarely wait on one row lock, and the `datasets` heap no
longer gets a dead version per item write. A dataset's count is the sum of its shards (at most
16 primary-key index rows). The downgrade folds the shards back into the column and restores
b5's functions.

Revision ID: b7_item_count_shards
Revises: b6_experiments
Create Date: 2026-12-05 21:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7_item_count_shards"
down_revision: str | None = "b6_experiments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHARDS = 16
SHARD_SQL = f"(pg_backend_pid() % {SHARDS})::smallint"
UPSERT = (
    "INSERT INTO dataset_item_counts (dataset_id, shard, n) SELECT dataset_id, "
    f"{SHARD_SQL}, delta FROM ({{deltas}}) d "
    "WHERE EXISTS (SELECT 1 FROM datasets WHERE datasets.id = d.dataset_id) "
    "ON CONFLICT (dataset_id, shard) DO UPDATE SET n = dataset_item_counts.n + EXCLUDED.n;"
)
# Items deleted by the cascade of their dataset's delete count for no dataset: the dataset's row
# is gone (its shards with it), and a shard for it would break the foreign key. A live dataset's
# row cannot go meanwhile: the item writes hold its key-share lock.
# Per statement and dataset: the change in live items the statement made.
SHARDED_DELTAS = {
    "insert": "SELECT dataset_id, count(*) AS delta FROM new_rows WHERE NOT deleted "
    "GROUP BY dataset_id",
    "update": "SELECT dataset_id, sum(delta) AS delta FROM ("
    "SELECT dataset_id, 1 AS delta FROM new_rows WHERE NOT deleted "
    "UNION ALL SELECT dataset_id, -1 AS delta FROM old_rows WHERE NOT deleted) changes "
    "GROUP BY dataset_id HAVING sum(delta) <> 0",
    "delete": "SELECT dataset_id, -count(*) AS delta FROM old_rows WHERE NOT deleted "
    "GROUP BY dataset_id",
}
# b5_bulk_items' bodies, restored by the downgrade.
COLUMN_FUNCTIONS = {
    "insert": """
        UPDATE datasets d SET item_count = d.item_count + n.delta
        FROM (SELECT dataset_id, count(*) AS delta FROM new_rows WHERE NOT deleted
              GROUP BY dataset_id) n
        WHERE d.id = n.dataset_id;
    """,
    "update": """
        UPDATE datasets d SET item_count = d.item_count + n.delta
        FROM (SELECT dataset_id, sum(delta) AS delta FROM (
                SELECT dataset_id, 1 AS delta FROM new_rows WHERE NOT deleted
                UNION ALL
                SELECT dataset_id, -1 AS delta FROM old_rows WHERE NOT deleted) changes
              GROUP BY dataset_id HAVING sum(delta) <> 0) n
        WHERE d.id = n.dataset_id;
    """,
    "delete": """
        UPDATE datasets d SET item_count = d.item_count - n.delta
        FROM (SELECT dataset_id, count(*) AS delta FROM old_rows WHERE NOT deleted
              GROUP BY dataset_id) n
        WHERE d.id = n.dataset_id;
    """,
}


def _replace_functions(bodies: dict[str, str]) -> None:
    # Same names and signatures: the triggers (and their transition tables) stay as they are.
    for event, body in bodies.items():
        op.execute(
            f"CREATE OR REPLACE FUNCTION dataset_items_count_{event}() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$"
        )


def upgrade() -> None:
    op.create_table(
        "dataset_item_counts",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("shard", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "shard"),
    )
    # The column, kept exact by b5's triggers, moves into shard 0. Writers wait for the lock on
    # dataset_items until this transaction commits: no item write falls between the copy and
    # the new functions.
    op.execute("LOCK TABLE dataset_items IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "INSERT INTO dataset_item_counts (dataset_id, shard, n) "
        "SELECT id, 0, item_count FROM datasets WHERE item_count <> 0"
    )
    _replace_functions({event: UPSERT.format(deltas=d) for event, d in SHARDED_DELTAS.items()})
    op.drop_column("datasets", "item_count")


def downgrade() -> None:
    op.add_column(
        "datasets",
        sa.Column("item_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.execute("LOCK TABLE dataset_items IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        "UPDATE datasets d SET item_count = c.n FROM (SELECT dataset_id, sum(n) AS n "
        "FROM dataset_item_counts GROUP BY dataset_id) c WHERE d.id = c.dataset_id"
    )
    _replace_functions(COLUMN_FUNCTIONS)
    op.drop_table("dataset_item_counts")
