"""`make bench` (`python -m bench.run`): seed, serve both contenders, drive, report.

Sequence: seed (or reuse) 1,000,000 items; start the service and the baseline with the same
number of workers; check that they answer every benchmarked request identically; warm each
scenario up once and take each worker's RSS; then `--repeats` rounds in which every scenario
runs on each contender (alternating who goes first), each run being a `--warmup` s warm-up
followed by a `--duration` s measurement, after the database has gone idle; then top the
service up to `--memory-requests` requests and take RSS again. Medians go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import bulk, database, experiment, report, scenarios, seed
from bench.driver import INSTALL_HINT, Result, drive, write_requests, wrk_path
from bench.servers import (
    Server,
    describe_machine,
    postgres_cpu_seconds,
    start_baseline,
    start_service,
    wait_ready,
)

CONTENDERS = ("service", "baseline")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="a PostgreSQL server to create `llma_bench` on (default: embedded, bench/.data)",
    )
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--output", type=Path, default=database.BENCH_DIR / "RESULTS.md")
    return parser.parse_args(argv)


async def measure(
    server: Server,
    scenario: scenarios.Scenario,
    requests_file: Path,
    args: argparse.Namespace,
    api_key: str,
    database_url: str,
    pgdata: Path | None,
) -> Result:
    """Idle database, warm-up, idle again, then the measured run with its CPU per request.

    The second wait lets the server finish what the warm-up left in flight (wrk hangs up on
    it, the server does not know), so the measured run neither pays for it nor counts its CPU.
    CPU per request (the workers', and the embedded PostgreSQL's) does not depend on what else
    the machine runs, unlike req/s: it is the figure to trust on a shared machine.
    """
    await database.wait_until_idle(database_url)
    load = os.getloadavg()[0]
    common = {"api_key": api_key, "clients": args.clients, "threads": args.threads}
    server.restarts()
    warm = await drive(server.base_url, requests_file, seconds=args.warmup, **common)
    await database.wait_until_idle(database_url)
    seconds = max(args.duration, scenario.min_seconds)
    cpu, db = server.cpu_seconds(), postgres_cpu_seconds(pgdata)
    result = await drive(server.base_url, requests_file, seconds=seconds, **common)
    cpu, db_after = server.cpu_seconds() - cpu, postgres_cpu_seconds(pgdata)
    server.served += warm.requests + result.requests
    per = 1000 / max(result.requests, 1)
    return dataclasses.replace(
        result,
        load_before=load,
        app_cpu_ms=round(cpu * per, 2),
        db_cpu_ms=None if db is None or db_after is None else round((db_after - db) * per, 2),
        restarts=server.restarts(),
    )


async def top_up(
    server: Server, files: list[Path], target: int, api_key: str, args: argparse.Namespace
) -> None:
    """Drive the cheaper scenarios round robin until the service has served `target` requests."""
    turn = 0
    while server.served < target:
        result = await drive(
            server.base_url,
            files[turn % len(files)],
            api_key=api_key,
            seconds=20,
            clients=args.clients,
            threads=args.threads,
        )
        server.served += result.requests
        turn += 1
        print(f"  memory run: {server.served:,} requests served", flush=True)


async def run(args: argparse.Namespace) -> int:
    wanted = set(args.only.split(",")) if args.only else None
    if wanted is not None and "experiment" in wanted:
        # The experiment scenario drives a worker, not HTTP: no wrk, no million-item seed.
        code = await experiment.run(args)
        if wanted == {"experiment"} or code:
            return code
        args.only = ",".join(wanted - {"experiment"})
    elif wanted is None:
        code = await run_http(args)
        return code or await experiment.run(args)
    return await run_http(args)


async def run_http(args: argparse.Namespace) -> int:
    only = set(args.only.split(",")) if args.only else set(bulk.NAMES)
    wanted_bulk = bool(only & set(bulk.NAMES))
    if args.only and only <= set(bulk.NAMES):
        # Bulk import/export only: no wrk, no seed, a database and team of their own.
        return await bulk.standalone(args.database_url, args.workers)
    if wrk_path() is None:
        print(INSTALL_HINT, file=sys.stderr)
        return 2
    started = time.monotonic()
    server_url, embedded = database.server_url(args.database_url)
    pgdata = database.DATA_DIR / "pg" if embedded else None
    url = await database.ensure_database(server_url)
    data = await seed.ensure_seeded(url)
    version = await database.server_version(url)
    print(f"PostgreSQL {version}; team {data.team_id}; starting both contenders", flush=True)

    servers = {
        "service": start_service(url, args.workers),
        "baseline": start_baseline(url, args.workers),
    }
    headers = {"Authorization": f"Bearer {data.api_key}"}
    probe = f"/api/environments/{data.team_id}/datasets/?search={seed.SEARCH_TERM}"
    workdir = Path(tempfile.mkdtemp(prefix="llma-bench-"))
    try:
        for server in servers.values():
            await wait_ready(server, probe, headers, args.workers)
        cursors = {
            name: await scenarios.cursor_at_depth(server, data, data.api_key)
            for name, server in servers.items()
        }
        ids = await scenarios.retrieve_ids(url, data)
        plan = scenarios.build(data, cursors, ids, scenarios.create_bodies(data))
        if args.only:
            wanted = set(args.only.split(","))
            plan = [s for s in plan if s.name in wanted]
        problems = await scenarios.check_same_answers(servers, plan, data.api_key)
        if problems:
            print("the contenders do not answer the same:\n" + "\n".join(problems), file=sys.stderr)
            return 1
        print("both contenders answer every scenario identically", flush=True)

        files = {
            (s.name, name): write_requests(workdir / f"{s.name}-{name}.tsv", s.requests[name])
            for s in plan
            for name in servers
        }
        print("warming up every scenario", flush=True)
        for scenario in plan:
            for name, server in servers.items():
                await drive(
                    server.base_url,
                    files[(scenario.name, name)],
                    api_key=data.api_key,
                    seconds=args.warmup,
                    clients=args.clients,
                    threads=args.threads,
                )
        rss_warm = {name: server.worker_rss_mib() for name, server in servers.items()}

        runs: dict[tuple[str, str], list[Result]] = {}
        for repeat in range(args.repeats):
            order = CONTENDERS if repeat % 2 == 0 else CONTENDERS[::-1]
            for scenario in plan:
                for name in order:
                    result = await measure(
                        servers[name],
                        scenario,
                        files[(scenario.name, name)],
                        args,
                        data.api_key,
                        url,
                        pgdata,
                    )
                    runs.setdefault((scenario.name, name), []).append(result)
                    print(
                        f"  [{repeat + 1}/{args.repeats}] {scenario.name:<22} {name:<8} "
                        f"{result.rps:8.1f} req/s  p50 {result.p50_ms:8.1f} ms  "
                        f"p99 {result.p99_ms:8.1f} ms  cpu {result.app_cpu_ms:6.2f} ms/req  "
                        f"db {result.db_cpu_ms} ms/req  errors {result.errors}  "
                        f"restarts {result.restarts}  load {result.load_before:.1f}",
                        flush=True,
                    )

        cheap = [files[(s.name, "service")] for s in plan if s.name != "list_offset_100k"]
        await top_up(servers["service"], cheap, args.memory_requests, data.api_key, args)
        rss_after = {name: server.worker_rss_mib() for name, server in servers.items()}
        served = {name: server.served for name, server in servers.items()}
        bulk_results = None
        if wanted_bulk:
            bulk_results = await bulk.run_bulk(url, servers["service"], data.team_id, data.api_key)
    finally:
        for server in servers.values():
            server.stop()
        connection = await database.connect(url)
        try:
            await seed.cleanup_writes(connection, data.team_id, data.seeded_until)
        finally:
            await connection.close()

    summary = summarise(plan, runs)
    context = {
        "command": " ".join(["python -m bench.run", *sys.argv[1:]]),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe_machine(),
        "postgres": version,
        "database": "embedded pgserver (bench/.data)" if embedded else "given server",
        "args": {k: str(v) for k, v in vars(args).items()},
        "memory": {"after_warmup": rss_warm, "after": rss_after, "served": served},
        "bulk": bulk_results,
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    raw = {"context": context, "summary": summary, "runs": _raw_runs(runs)}
    database.DATA_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (database.DATA_DIR / f"results-{stamp}.json").write_bytes(
        orjson.dumps(raw, option=orjson.OPT_INDENT_2)
    )
    args.output.write_text(report.render(context, summary))
    print(report.console(summary, context), flush=True)
    print(f"wrote {args.output}", flush=True)
    return 0


def _median(results: list[Result], attribute: str) -> float:
    return statistics.median(getattr(r, attribute) for r in results)


def summarise(
    plan: list[scenarios.Scenario], runs: dict[tuple[str, str], list[Result]]
) -> list[dict[str, Any]]:
    rows = []
    for scenario in plan:
        row: dict[str, Any] = {"name": scenario.name, "title": scenario.title}
        for name in CONTENDERS:
            results = runs[(scenario.name, name)]
            row[name] = {
                "rps": round(_median(results, "rps"), 1),
                "p50_ms": round(_median(results, "p50_ms"), 1),
                "p99_ms": round(_median(results, "p99_ms"), 1),
                "errors": sum(r.errors for r in results),
                "rps_runs": [round(r.rps, 1) for r in results],
                "app_cpu_ms": round(_median(results, "app_cpu_ms"), 2),
                "db_cpu_ms": _median_or_none([r.db_cpu_ms for r in results]),
                "restarts": sum(r.restarts for r in results),
                "load": round(statistics.mean(r.load_before for r in results), 1),
            }
        row["rps_ratio"] = _ratio(row["service"]["rps"], row["baseline"]["rps"])
        row["p99_ratio"] = _ratio(row["service"]["p99_ms"], row["baseline"]["p99_ms"])
        rows.append(row)
    return rows


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def _raw_runs(runs: dict[tuple[str, str], list[Result]]) -> dict[str, list[dict[str, Any]]]:
    return {f"{s}/{c}": [r.as_dict() for r in results] for (s, c), results in runs.items()}


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
