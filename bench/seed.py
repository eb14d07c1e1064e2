"""Seeding the bench team: 1,000,000 dataset items over 20 datasets, loaded with COPY.

4 datasets of 125,000 items and 16 of 31,250, 1 % soft-deleted, with JSON of roughly
0.5 / 0.25 / 0.15 kB for input / output / metadata, created by five members over a year. The
seed is reused while it is complete; what the bench writes goes to the last (small) dataset and
is deleted after each run, so every run measures the same data.
"""

from __future__ import annotations

import datetime as dt
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import orjson

from app.auth import keys
from bench.database import connect

ORGANIZATION = "llma bench"
DATASET_SIZES = [125_000] * 4 + [31_250] * 16
DELETED_SHARE = 0.01
CHUNK = 50_000
ITEM_COLUMNS = (
    "id",
    "team_id",
    "dataset_id",
    "input",
    "output",
    "metadata",
    "ref_trace_id",
    "ref_source_id",
    "ref_timestamp",
    "deleted",
    "created_by_id",
    "created_at",
    "updated_at",
)
DATASET_NAMES = [
    "Customer support replies",
    "Refund policy QA",
    "SQL generation",
    "Code review comments",
    "Support escalation triage",
    "Onboarding assistant",
    "News summarisation",
    "Support tone checks",
    "Translation EN-DE",
    "Product search queries",
    "Invoice extraction",
    "Synthetic medical triage",
    "Sales email drafts",
    "Support macros",
    "Legal clause lookup",
    "Chitchat safety",
    "Recipe assistant",
    "Travel booking agent",
    "Support knowledge base",
    "Bench writes",
]
SEARCH_TERM = "support"  # matches 5 of the 20 names (case-insensitively)

_TEXT = (
    "the customer asked about their invoice and wanted a refund for the annual plan because "
    "billing charged twice this month please explain how to export data from the dashboard "
    "into a spreadsheet with filters applied reply politely cite the policy section and offer "
    "a discount code when appropriate escalate to a human agent if the user mentions legal "
    "action or a security incident summarise the conversation in two sentences"
)
WORDS = _TEXT.split()


@dataclass(frozen=True)
class BenchData:
    """What the driver needs to address the seeded team."""

    team_id: int
    dataset_ids: list[uuid.UUID]
    api_key: str
    seeded_until: dt.datetime

    @property
    def list_dataset(self) -> uuid.UUID:
        return self.dataset_ids[0]

    @property
    def write_dataset(self) -> uuid.UUID:
        return self.dataset_ids[-1]


def _uuid7(moment: dt.datetime, rng: random.Random) -> uuid.UUID:
    ms = int(moment.timestamp() * 1000)
    rand = rng.getrandbits(74)
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & (2**62 - 1))
    return uuid.UUID(int=value)


def _sentences(rng: random.Random, count: int, words: int) -> list[str]:
    pool = []
    for _ in range(count):
        text = " ".join(rng.choice(WORDS) for _ in range(words))
        pool.append(text[0].upper() + text[1:] + ".")
    return pool


class _Content:
    """Pools of realistic strings, so a million JSON documents take seconds, not minutes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.system = _sentences(rng, 300, 30)  # ~190 chars
        self.user = _sentences(rng, 3000, 35)  # ~220 chars
        self.answer = _sentences(rng, 3000, 33)  # ~210 chars
        self.models = ["gpt-4.1-mini", "gpt-4.1", "claude-sonnet-4-5", "gemini-2.5-flash"]
        self.tags = ["billing", "refund", "export", "security", "legal", "onboarding", "sql"]

    def item(self) -> tuple[str, str, str]:
        rng = self.rng
        input_doc = {
            "messages": [
                {"role": "system", "content": rng.choice(self.system)},
                {"role": "user", "content": rng.choice(self.user)},
            ],
            "temperature": 0.2,
        }
        output_doc = {"role": "assistant", "content": rng.choice(self.answer)}
        metadata_doc = {
            "source": "production",
            "model": rng.choice(self.models),
            "tags": rng.sample(self.tags, 2),
            "rating": rng.randint(1, 5),
            "latency_ms": rng.randint(200, 9000),
            "customer_tier": rng.choice(["free", "pro", "enterprise"]),
        }
        return (
            orjson.dumps(input_doc).decode(),
            orjson.dumps(output_doc).decode(),
            orjson.dumps(metadata_doc).decode(),
        )


def _item_records(
    team_id: int,
    dataset_id: uuid.UUID,
    size: int,
    user_ids: list[int],
    until: dt.datetime,
    rng: random.Random,
    content: _Content,
) -> Iterator[tuple[object, ...]]:
    span = 365 * 24 * 3600
    for _ in range(size):
        created = until - dt.timedelta(seconds=rng.random() * span)
        doc_in, doc_out, doc_meta = content.item()
        yield (
            _uuid7(created, rng),
            team_id,
            dataset_id,
            doc_in,
            doc_out,
            doc_meta,
            uuid.UUID(int=rng.getrandbits(128)).hex,
            f"gen_{rng.getrandbits(48):012x}",
            created - dt.timedelta(seconds=rng.randint(1, 600)),
            rng.random() < DELETED_SHARE,
            rng.choice(user_ids),
            created,
            created,
        )


async def _existing(connection: asyncpg.Connection) -> tuple[int, dt.datetime] | None:
    row = await connection.fetchrow(
        "SELECT t.id FROM teams t JOIN organizations o ON o.id = t.organization_id "
        "WHERE o.name = $1",
        ORGANIZATION,
    )
    if row is None:
        return None
    team_id = int(row["id"])
    seeded = await connection.fetchval(
        "SELECT (metadata->>'seeded_until')::timestamptz FROM datasets "
        "WHERE team_id = $1 AND name = $2",
        team_id,
        DATASET_NAMES[-1],
    )
    if seeded is None:
        return None
    count = await connection.fetchval(
        "SELECT count(*) FROM dataset_items WHERE team_id = $1 AND created_at <= $2",
        team_id,
        seeded,
    )
    return (team_id, seeded) if count == sum(DATASET_SIZES) else None


async def _create_identity(connection: asyncpg.Connection) -> tuple[int, list[int]]:
    organization_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO organizations (id, name, is_ai_data_processing_approved, created_at) "
        "VALUES ($1, $2, true, now())",
        organization_id,
        ORGANIZATION,
    )
    team_id = await connection.fetchval(
        "INSERT INTO teams (organization_id, name, created_at) VALUES ($1, 'Bench', now()) "
        "RETURNING id",
        organization_id,
    )
    user_ids = []
    for n in range(5):
        user_id = await connection.fetchval(
            "INSERT INTO users (uuid, distinct_id, first_name, last_name, email, "
            "is_email_verified, current_team_id, created_at) "
            "VALUES ($1, $2, $3, 'Bench', $4, true, $5, now()) RETURNING id",
            uuid.uuid4(),
            uuid.uuid4().hex,
            f"Member{n}",
            f"bench-{uuid.uuid4().hex[:8]}@example.com",
            team_id,
        )
        await connection.execute(
            "INSERT INTO organization_memberships (id, organization_id, user_id, created_at) "
            "VALUES ($1, $2, $3, now())",
            uuid.uuid4(),
            organization_id,
            user_id,
        )
        user_ids.append(int(user_id))
    return int(team_id), user_ids


async def _load_items(
    connection: asyncpg.Connection,
    team_id: int,
    dataset_ids: list[uuid.UUID],
    user_ids: list[int],
    until: dt.datetime,
) -> None:
    """COPY every item with the secondary indexes dropped, then rebuild them once."""
    indexes = await connection.fetch(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i "
        "JOIN pg_index x ON x.indexrelid = (quote_ident(i.indexname))::regclass "
        "WHERE i.tablename = 'dataset_items' AND NOT x.indisprimary"
    )
    for index in indexes:
        await connection.execute(f'DROP INDEX "{index["indexname"]}"')
    # Rows are correct by construction; skipping per-row FK triggers makes COPY ~3x faster.
    await connection.execute("SET session_replication_role = replica")
    rng = random.Random(20261125)
    content = _Content(rng)
    for dataset_id, size in zip(dataset_ids, DATASET_SIZES, strict=True):
        records = _item_records(team_id, dataset_id, size, user_ids, until, rng, content)
        while chunk := [row for _, row in zip(range(CHUNK), records, strict=False)]:
            await connection.copy_records_to_table(
                "dataset_items", records=chunk, columns=ITEM_COLUMNS
            )
    await connection.execute("SET session_replication_role = origin")
    # The replica role skipped the triggers that keep `dataset_item_counts` too: the team's
    # datasets get their fresh count in shard 0, their other shards cleared.
    await connection.execute(
        "DELETE FROM dataset_item_counts c USING datasets d "
        "WHERE d.id = c.dataset_id AND d.team_id = $1",
        team_id,
    )
    await connection.execute(
        "INSERT INTO dataset_item_counts (dataset_id, shard, n) "
        "SELECT d.id, 0, (SELECT count(*) FROM dataset_items i "
        "WHERE i.dataset_id = d.id AND NOT i.deleted) FROM datasets d WHERE d.team_id = $1",
        team_id,
    )
    for index in indexes:
        print(f"  building {index['indexname']}", flush=True)
        await connection.execute(index["indexdef"])


async def _vacuum(connection: asyncpg.Connection) -> None:
    # VACUUM sets the visibility map: without it the count is no index-only scan.
    await connection.execute("VACUUM (ANALYZE) dataset_items")
    await connection.execute("VACUUM (ANALYZE) datasets")
    await connection.execute("VACUUM (ANALYZE) dataset_item_counts")


async def _seed(connection: asyncpg.Connection) -> tuple[int, dt.datetime]:
    await connection.execute("DELETE FROM organizations WHERE name = $1", ORGANIZATION)
    until = dt.datetime.now(dt.UTC).replace(microsecond=0)
    team_id, user_ids = await _create_identity(connection)
    dataset_ids = []
    for n, name in enumerate(DATASET_NAMES):
        created = until - dt.timedelta(days=400 - n)
        dataset_id = _uuid7(created, random.Random(n))
        await connection.execute(
            "INSERT INTO datasets (id, team_id, name, description, metadata, deleted, "
            "created_by_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, false, $6, $7, $7)",
            dataset_id,
            team_id,
            name,
            f"Items sampled from production traces of the {name.lower()} flow.",
            orjson.dumps(
                {"owner": "evals", "size": DATASET_SIZES[n], "seeded_until": until.isoformat()}
            ).decode(),
            user_ids[n % len(user_ids)],
            created,
        )
        dataset_ids.append(dataset_id)
    await _load_items(connection, team_id, dataset_ids, user_ids, until)
    return team_id, until


async def ensure_seeded(url: str) -> BenchData:
    """Seed when the data is missing or incomplete; mint a fresh API key either way."""
    connection = await connect(url)
    try:
        existing = await _existing(connection)
        if existing is None:
            started = time.monotonic()
            print("seeding 1,000,000 dataset items (once; later runs reuse them)", flush=True)
            async with connection.transaction():
                existing = await _seed(connection)
            await _vacuum(connection)
            print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
        team_id, until = existing
        await cleanup_writes(connection, team_id, until)
        dataset_ids = [
            row["id"]
            for row in await connection.fetch(
                "SELECT id FROM datasets WHERE team_id = $1 ORDER BY created_at", team_id
            )
        ]
        api_key = await _fresh_key(connection, team_id)
    finally:
        await connection.close()
    return BenchData(team_id=team_id, dataset_ids=dataset_ids, api_key=api_key, seeded_until=until)


async def _fresh_key(connection: asyncpg.Connection, team_id: int) -> str:
    user_id = await connection.fetchval(
        "SELECT id FROM users WHERE current_team_id = $1 ORDER BY id LIMIT 1", team_id
    )
    await connection.execute("DELETE FROM personal_api_keys WHERE user_id = $1", user_id)
    secret = keys.generate_key()
    await connection.execute(
        "INSERT INTO personal_api_keys (id, user_id, label, secure_value, mask_value, scopes, "
        "created_at) VALUES ($1, $2, 'bench', $3, $4, $5, now())",
        uuid.uuid4(),
        user_id,
        keys.digest(secret),
        keys.mask(secret),
        ["*"],
    )
    return secret


async def cleanup_writes(connection: asyncpg.Connection, team_id: int, until: dt.datetime) -> int:
    """Delete what earlier runs created, and vacuum so counts stay index-only scans."""
    status = await connection.execute(
        "DELETE FROM dataset_items WHERE team_id = $1 AND created_at > $2", team_id, until
    )
    deleted = int(status.split()[-1])
    if deleted:
        await connection.execute("VACUUM (ANALYZE) dataset_items")
    return deleted
