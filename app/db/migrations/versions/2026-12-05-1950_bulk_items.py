"""Bulk items: content hash (generated) and its index; datasets.item_count kept by triggers.

Revision ID: b5_bulk_items
Revises: b2_run_identity
Create Date: 2026-12-05 19:30:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5_bulk_items"
down_revision: str | None = "b2_run_identity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONTENT_HASH_SQL = "sha256(jsonb_send(input) || jsonb_send(output))"

# Statement-level triggers with transition tables: one UPDATE of `datasets` per statement and
# dataset, however many rows the statement wrote (a bulk import batch is one statement).
COUNT_FUNCTIONS = {
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
REFERENCING = {
    "insert": "NEW TABLE AS new_rows",
    "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "delete": "OLD TABLE AS old_rows",
}


def upgrade() -> None:
    op.add_column(
        "dataset_items",
        sa.Column(
            "content_hash",
            sa.LargeBinary(),
            sa.Computed(CONTENT_HASH_SQL, persisted=True),
            nullable=True,
        ),
    )
    op.create_index(
        "ix_dataset_items_content_hash",
        "dataset_items",
        ["team_id", "dataset_id", "content_hash"],
        unique=False,
        postgresql_where=sa.text("NOT deleted"),
    )
    op.add_column(
        "datasets",
        sa.Column("item_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    for event, body in COUNT_FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION dataset_items_count_{event}() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER dataset_items_count_{event} AFTER {event.upper()} ON dataset_items "
            f"REFERENCING {REFERENCING[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION dataset_items_count_{event}()"
        )
    op.execute(
        "UPDATE datasets d SET item_count = c.n FROM (SELECT dataset_id, count(*) AS n "
        "FROM dataset_items WHERE NOT deleted GROUP BY dataset_id) c WHERE d.id = c.dataset_id"
    )


def downgrade() -> None:
    for event in COUNT_FUNCTIONS:
        op.execute(f"DROP TRIGGER dataset_items_count_{event} ON dataset_items")
        op.execute(f"DROP FUNCTION dataset_items_count_{event}()")
    op.drop_column("datasets", "item_count")
    op.drop_index(
        "ix_dataset_items_content_hash",
        table_name="dataset_items",
        postgresql_where=sa.text("NOT deleted"),
    )
    op.drop_column("dataset_items", "content_hash")
