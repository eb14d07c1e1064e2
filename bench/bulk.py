"""Bulk item import and export, 1,000,000 items each way, against COPY on asyncpg (issue 15).

Not wrk-driven: one Python client streams a file up (`POST …/items/import/`, NDJSON, no ids,
the whole answer read and counted) or the export down (`GET …/items/export/`, discarded), and
the baselines run in the same process over one asyncpg connection: `copy_records_to_table` of
the very same rows into `dataset_items` (same indexes, triggers and generated column), and
`COPY (SELECT … ORDER BY created_at, id) TO STDOUT` of the same dataset. While each request
runs, the service workers' RSS is sampled every 100 ms; the report gives the peak above the
workers' RSS just before. Targets: import ≥ 0.5x COPY's rows/s, export ≥ 0.7x, RSS < 100 MB
above idle.

Run alone with `python -m bench.bulk --database-url …`: it works in its own database
(`llma_bench_bulk`, a team of its own, no seed), and drops what it wrote. `make bench` runs it
after the wrk scenarios (`--only bulk_import,bulk_export` runs only these).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson

from app.datasets.bulk_sql import NDJSON_LINE
from bench import database, seed
from bench.servers import Server, start_service, wait_ready

NAMES = ("bulk_import", "bulk_export")
ROWS = 1_000_000
COPY_CHUNK = 50_000
SAMPLE_SECONDS = 0.1
IMPORT_TARGET = 0.5
EXPORT_TARGET = 0.7
RSS_LIMIT_MIB = 100


def write_file(path: Path, rows: int) -> None:
    """`rows` NDJSON items like the seed's (≈ 0.5 / 0.25 / 0.15 kB of JSON), without ids."""
    content = seed._Content(random.Random(15))
    with path.open("wb") as out:
        for _ in range(rows):
            doc_in, doc_out, doc_meta = content.item()
            out.write(
                b'{"input":%s,"output":%s,"metadata":%s}\n'
                % (doc_in.encode(), doc_out.encode(), doc_meta.encode())
            )


def copy_records(path: Path, team_id: int, dataset_id: uuid.UUID, user_id: int) -> Iterator[Any]:
    """The same rows as the file, as COPY records (parsing the file is not timed)."""
    now = dt.datetime.now(dt.UTC)
    with path.open("rb") as source:
        for n, line in enumerate(source):
            doc = orjson.loads(line)
            stamp = now + dt.timedelta(microseconds=n)
            yield (
                uuid.uuid4(),
                team_id,
                dataset_id,
                orjson.dumps(doc["input"]).decode(),
                orjson.dumps(doc["output"]).decode(),
                orjson.dumps(doc["metadata"]).decode(),
                False,
                user_id,
                stamp,
                stamp,
            )


COPY_COLUMNS = (
    "id",
    "team_id",
    "dataset_id",
    "input",
    "output",
    "metadata",
    "deleted",
    "created_by_id",
    "created_at",
    "updated_at",
)


class RssSampler:
    """Peak RSS of the service's workers while a request runs."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.peak = 0.0
        self._task: asyncio.Task[None] | None = None

    def idle(self) -> float:
        sizes = self.server.worker_rss_mib()
        if not sizes:  # one worker: uvicorn serves from its own process
            import psutil

            sizes = [round(psutil.Process(self.server.process.pid).memory_info().rss / 2**20, 1)]
        return max(sizes)

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.idle())
            await asyncio.sleep(SAMPLE_SECONDS)

    async def __aenter__(self) -> RssSampler:
        self.peak = self.idle()
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        self.peak = max(self.peak, self.idle())


async def _dataset(connection: asyncpg.Connection, team_id: int, name: str) -> uuid.UUID:
    dataset_id = uuid.uuid4()
    await connection.execute(
        "INSERT INTO datasets (id, team_id, name, metadata, deleted, created_at, updated_at) "
        "VALUES ($1, $2, $3, 'null', false, now(), now())",
        dataset_id,
        team_id,
        name,
    )
    return dataset_id


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            yield chunk


async def measure_import(
    server: Server, client: httpx.AsyncClient, path: Path, team_id: int, dataset_id: uuid.UUID
) -> dict[str, Any]:
    sampler = RssSampler(server)
    idle = sampler.idle()
    started = time.perf_counter()
    summary: dict[str, Any] = {}
    answers = 0
    async with (
        sampler,
        client.stream(
            "POST",
            f"/api/environments/{team_id}/datasets/{dataset_id}/items/import/",
            content=_file_chunks(path),
            headers={"Content-Type": "application/x-ndjson"},
        ) as response,
    ):
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith('{"summary"'):
                summary = orjson.loads(line)
            elif line:
                answers += 1
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(summary.get("created", 0) / seconds),
        "created": summary.get("created", 0),
        "answers": answers,
        "rss_idle_mib": idle,
        "rss_peak_mib": sampler.peak,
    }


async def measure_export(
    server: Server, client: httpx.AsyncClient, team_id: int, dataset_id: uuid.UUID
) -> dict[str, Any]:
    sampler = RssSampler(server)
    idle = sampler.idle()
    started = time.perf_counter()
    lines = 0
    size = 0
    async with (
        sampler,
        client.stream(
            "GET", f"/api/environments/{team_id}/datasets/{dataset_id}/items/export/"
        ) as response,
    ):
        response.raise_for_status()
        async for chunk in response.aiter_raw():
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 2),
        "rows_per_s": round(lines / seconds),
        "rows": lines,
        "mib": round(size / 2**20, 1),
        "rss_idle_mib": idle,
        "rss_peak_mib": sampler.peak,
    }


async def copy_in(
    connection: asyncpg.Connection, path: Path, team_id: int, dataset_id: uuid.UUID, user_id: int
) -> dict[str, Any]:
    records = copy_records(path, team_id, dataset_id, user_id)
    seconds = 0.0
    rows = 0
    while chunk := [row for _, row in zip(range(COPY_CHUNK), records, strict=False)]:
        started = time.perf_counter()
        await connection.copy_records_to_table("dataset_items", records=chunk, columns=COPY_COLUMNS)
        seconds += time.perf_counter() - started
        rows += len(chunk)
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "rows": rows}


async def copy_out(
    connection: asyncpg.Connection, team_id: int, dataset_id: uuid.UUID
) -> dict[str, Any]:
    size = 0

    async def sink(data: bytes) -> None:
        nonlocal size
        size += len(data)

    query = (
        f"SELECT {NDJSON_LINE} FROM dataset_items WHERE team_id = {int(team_id)} "
        f"AND dataset_id = '{dataset_id}' AND NOT deleted ORDER BY created_at, id"
    )
    started = time.perf_counter()
    status = await connection.copy_from_query(query, output=sink)
    seconds = time.perf_counter() - started
    rows = int(status.split()[-1])
    return {"seconds": round(seconds, 2), "rows_per_s": round(rows / seconds), "rows": rows}


async def run_bulk(
    url: str, server: Server, team_id: int, api_key: str, rows: int = ROWS
) -> dict[str, Any]:
    """Both measurements on a running service; the datasets they fill are deleted after."""
    workdir = Path(tempfile.mkdtemp(prefix="llma-bulk-"))
    path = workdir / "items.ndjson"
    print(f"bulk: writing {rows:,} NDJSON items", flush=True)
    write_file(path, rows)
    connection = await database.connect(url)
    user_id = await connection.fetchval(
        "SELECT id FROM users WHERE current_team_id = $1 ORDER BY id LIMIT 1", team_id
    )
    imported = await _dataset(connection, team_id, "bench bulk import")
    copied = await _dataset(connection, team_id, "bench bulk copy")
    results: dict[str, Any] = {"rows": rows, "file_mib": round(path.stat().st_size / 2**20, 1)}
    timeout = httpx.Timeout(60.0, read=None, write=None)
    headers = {"Authorization": f"Bearer {api_key}"}
    try:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers=headers, timeout=timeout
        ) as client:
            await database.wait_until_idle(url)
            print("bulk: COPY baseline in", flush=True)
            results["copy_in"] = await copy_in(connection, path, team_id, copied, user_id)
            await database.wait_until_idle(url)
            print("bulk: service import", flush=True)
            results["import"] = await measure_import(server, client, path, team_id, imported)
            await connection.execute("VACUUM (ANALYZE) dataset_items")
            await database.wait_until_idle(url)
            print("bulk: COPY baseline out", flush=True)
            results["copy_out"] = await copy_out(connection, team_id, imported)
            await database.wait_until_idle(url)
            print("bulk: service export", flush=True)
            results["export"] = await measure_export(server, client, team_id, imported)
    finally:
        await connection.execute("DELETE FROM datasets WHERE id = ANY($1)", [imported, copied])
        # Two million dead rows: reclaim them now, not at autovacuum's leisure, so the next
        # scenario (or run) does not pay for them.
        await connection.execute("VACUUM (ANALYZE) dataset_items")
        await connection.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results["import_ratio"] = round(
        results["import"]["rows_per_s"] / results["copy_in"]["rows_per_s"], 2
    )
    results["export_ratio"] = round(
        results["export"]["rows_per_s"] / results["copy_out"]["rows_per_s"], 2
    )
    results["load"] = round(os.getloadavg()[0], 1)
    return results


def report_lines(bulk: dict[str, Any]) -> list[str]:
    """Markdown for bench/RESULTS.md."""

    def rss(part: dict[str, Any]) -> str:
        above = part["rss_peak_mib"] - part["rss_idle_mib"]
        ok = "✅" if above < RSS_LIMIT_MIB else "❌"
        return f"peak worker RSS {part['rss_peak_mib']} MiB, {above:.1f} MiB above idle {ok}"

    imp, exp = bulk["import"], bulk["export"]
    return [
        "## Bulk import and export",
        "",
        f"{bulk['rows']:,} items ({bulk['file_mib']} MiB of NDJSON); load {bulk['load']} "
        "at the end. One client, one request each way.",
        "",
        "| | service | COPY on asyncpg | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| import | {imp['rows_per_s']:,} rows/s ({imp['seconds']} s) | "
        f"{bulk['copy_in']['rows_per_s']:,} rows/s ({bulk['copy_in']['seconds']} s) | "
        f"{bulk['import_ratio']} | ≥ {IMPORT_TARGET} "
        f"{'✅' if bulk['import_ratio'] >= IMPORT_TARGET else '❌'} |",
        f"| export | {exp['rows_per_s']:,} rows/s ({exp['seconds']} s) | "
        f"{bulk['copy_out']['rows_per_s']:,} rows/s ({bulk['copy_out']['seconds']} s) | "
        f"{bulk['export_ratio']} | ≥ {EXPORT_TARGET} "
        f"{'✅' if bulk['export_ratio'] >= EXPORT_TARGET else '❌'} |",
        "",
        f"- import: {rss(imp)}",
        f"- export: {rss(exp)}",
        "",
    ]


async def standalone(database_url: str | None, workers: int, rows: int = ROWS) -> int:
    """Only the bulk measurements; results to the console and bench/.data/bulk-*.json."""
    server_url, _embedded = database.server_url(database_url)
    connection = await database.connect(server_url)
    name = "llma_bench_bulk"
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    from app.cli.database import run_migrations

    url = database.with_database(server_url, name)
    await asyncio.to_thread(run_migrations, url)
    connection = await database.connect(url)
    try:
        existing = await connection.fetchval(
            "SELECT t.id FROM teams t JOIN organizations o ON o.id = t.organization_id "
            "WHERE o.name = $1",
            seed.ORGANIZATION,
        )
        team_id = existing or (await seed._create_identity(connection))[0]
        api_key = await seed._fresh_key(connection, team_id)
    finally:
        await connection.close()
    server = start_service(url, workers)
    try:
        probe = f"/api/environments/{team_id}/datasets/"
        expected = workers if workers > 1 else 0  # one: uvicorn spawns no worker process
        await wait_ready(server, probe, {"Authorization": f"Bearer {api_key}"}, expected)
        results = await run_bulk(url, server, team_id, api_key, rows)
    finally:
        server.stop()
    results["workers"] = workers
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    database.DATA_DIR.mkdir(parents=True, exist_ok=True)
    (database.DATA_DIR / f"bulk-{stamp}.json").write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2)
    )
    print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
    print("\n".join(report_lines(results)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bulk", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--rows", type=int, default=ROWS)
    args = parser.parse_args(argv)
    return asyncio.run(standalone(args.database_url, args.workers, args.rows))


if __name__ == "__main__":
    raise SystemExit(main())
