"""Writing one verdict: a single prebuilt statement, run on the session's asyncpg connection.

One statement is one transaction (PostgreSQL autocommits it), so the ledger rows, the verdict
(inserted only if its (experiment, item, evaluation) key is new) and its evaluation run land
together or not at all, and the experiment's status comes back in the same round trip. This
is the worker's hot path: per verdict, one statement instead of a BEGIN, five statements and a
COMMIT through the ORM (`make bench`, bench/RESULTS.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import driver
from app.db.base import utcnow, uuid7
from app.db.driver import Statement

_CALL_COLUMNS = (
    "id uuid, experiment_id uuid, team_id integer, dataset_item_id uuid, evaluation_id uuid, "
    "purpose text, provider text, model text, provider_key_id uuid, key_source text, "
    "prompt_sha256 text, attempt integer, latency_ms integer, input_tokens integer, "
    "output_tokens integer, outcome text, error_class text, error_message text, "
    "created_at timestamptz"
)
_CALL_NAMES = ", ".join(part.split()[0] for part in _CALL_COLUMNS.split(", "))
WRITE = Statement(
    text(
        f"""
        WITH calls AS (
            INSERT INTO experiment_calls ({_CALL_NAMES})
            SELECT {_CALL_NAMES}
            FROM jsonb_to_recordset(CAST(:calls AS jsonb)) AS c({_CALL_COLUMNS})
        ), result AS (
            INSERT INTO experiment_results (
                id, experiment_id, team_id, dataset_item_id, evaluation_id, generated_output,
                verdict, reasoning, latency_ms, input_tokens, output_tokens, error, created_at
            )
            VALUES (
                CAST(:id AS uuid), CAST(:experiment_id AS uuid), CAST(:team_id AS integer),
                CAST(:item_id AS uuid), CAST(:evaluation_id AS uuid), CAST(:generated AS jsonb),
                CAST(:verdict AS varchar), CAST(:reasoning AS text), CAST(:latency_ms AS integer),
                CAST(:input_tokens AS integer), CAST(:output_tokens AS integer),
                CAST(:error AS text), CAST(:now AS timestamptz)
            )
            ON CONFLICT (experiment_id, dataset_item_id, evaluation_id) DO NOTHING
            RETURNING id
        ), run AS (
            INSERT INTO evaluation_runs (
                id, team_id, evaluation_id, generation_id, trace_id, result, applicable,
                reasoning, timestamp, created_at, experiment_id, dataset_item_id
            )
            SELECT result.id, CAST(:team_id AS integer), CAST(:evaluation_id AS uuid),
                   CAST(CAST(:item_id AS uuid) AS varchar), CAST(:trace_id AS varchar),
                   CAST(:result AS boolean), CAST(:applicable AS boolean),
                   CAST(:reasoning AS text), CAST(:now AS timestamptz),
                   CAST(:now AS timestamptz), CAST(:experiment_id AS uuid),
                   CAST(:item_id AS uuid)
            FROM result
            WHERE CAST(:verdict AS varchar) <> 'error'
        )
        SELECT (SELECT status FROM experiments WHERE id = CAST(:experiment_id AS uuid))
                   AS status,
               (SELECT count(*) FROM result) AS written
        """
    )
)


def _calls_json(calls: Sequence[dict[str, Any]], now: Any) -> str:
    rows = [{**call, "id": uuid7(), "created_at": now} for call in calls]
    return orjson.dumps(rows, default=str).decode()


async def write(
    session: AsyncSession,
    *,
    experiment_id: uuid.UUID,
    team_id: int,
    item_id: uuid.UUID,
    trace_id: str | None,
    result: dict[str, Any],
    calls: Sequence[dict[str, Any]],
) -> tuple[str, bool]:
    """(the experiment's status, whether this verdict was new)."""
    now = utcnow()
    verdict = result["verdict"]
    row = await driver.fetchrow(
        session,
        WRITE,
        {
            "calls": _calls_json(calls, now),
            "id": uuid7(),
            "experiment_id": experiment_id,
            "team_id": team_id,
            "item_id": item_id,
            "evaluation_id": result["evaluation_id"],
            "generated": orjson.dumps(result["generated_output"]).decode(),
            "verdict": verdict,
            "reasoning": result["reasoning"],
            "latency_ms": result["latency_ms"],
            "input_tokens": result["input_tokens"],
            "output_tokens": result["output_tokens"],
            "error": result["error"],
            "now": now,
            "trace_id": trace_id,
            "result": None if verdict in ("na", "error") else verdict == "pass",
            "applicable": verdict != "na",
        },
    )
    assert row is not None
    return str(row["status"] or "gone"), bool(row["written"])
