"""The experiment scenario (`python -m bench.run --only experiment`): one `llma worker` judges
a 10 000-item dataset against a fake provider answering in 200 ms.

The ideal is concurrency / latency items per second (32 / 0.2 s = 160/s). Reported: items/s
over the whole run and over its middle 90 % (start-up and the tail excluded), the ratio to
the ideal, and the worker's CPU per judged item (user + system, from /proc) — the figure that
does not depend on what else a shared machine is doing. Written to bench/RESULTS.md between
markers, inside the part of the file that full runs keep.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import tempfile
import time
from pathlib import Path

import psutil

from bench import database
from tests.fakes.judge_server import JudgeServer
from tests.reliability.experiments import (
    new_fernet_key,
    seed_team,
    settings_for,
    spawn_worker,
    start_experiment,
    state,
    worker_env,
)

DATABASE_NAME = "llma_bench_experiment"
ITEMS = 10_000
LATENCY = 0.2
CONCURRENCY = 32
START, END = "<!-- experiment:start -->", "<!-- experiment:end -->"


async def _fresh_database(server: str) -> str:
    connection = await database.connect(server)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{DATABASE_NAME}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    finally:
        await connection.close()
    from app.cli.database import run_migrations
    from tests.database import with_database

    url = with_database(server, DATABASE_NAME)
    await asyncio.to_thread(run_migrations, url)
    return url


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def measure(
    server_url: str, items: int = ITEMS, concurrency: int = CONCURRENCY
) -> dict[str, float]:
    url = await _fresh_database(server_url)
    judge = JudgeServer(delay=LATENCY)
    await judge.start()
    key = new_fernet_key()
    team = await seed_team(url, key, items=items)
    env = worker_env(
        url,
        key,
        judge.base_url,
        EXPERIMENT_TEAM_CONCURRENCY=str(concurrency),
        EXPERIMENT_KEY_CONCURRENCY=str(concurrency),
        LOG_LEVEL="WARNING",
    )
    log = Path(tempfile.mkdtemp(prefix="llma-bench-exp-")) / "worker.log"
    worker = await spawn_worker(env, log, concurrency)
    process = psutil.Process(worker.pid)
    try:
        await asyncio.sleep(3)  # imports and the queue's start-up are not per-item work
        cpu_before = _cpu(process)
        started = time.monotonic()
        experiment = await start_experiment(settings_for(url, key, judge.base_url), team)
        marks: dict[str, float] = {}
        while True:
            current = await state(url, experiment)
            now = time.monotonic()
            if current.done >= items * 0.05:
                marks.setdefault("low", now)
                marks.setdefault("low_done", current.done)
            if current.done >= items * 0.95:
                marks.setdefault("high", now)
                marks.setdefault("high_done", current.done)
            if current.status != "running" and current.status != "queued":
                break
            await asyncio.sleep(0.25)
        elapsed = time.monotonic() - started
        cpu = _cpu(process) - cpu_before
        assert current.status == "succeeded", (current, log.read_text()[-2000:])
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(worker.wait(), timeout=20)
        except TimeoutError:
            worker.kill()
        await judge.stop()
    steady = (marks["high_done"] - marks["low_done"]) / max(marks["high"] - marks["low"], 1e-9)
    ideal = concurrency / LATENCY
    return {
        "items": items,
        "concurrency": concurrency,
        "ideal": ideal,
        "overall": items / elapsed,
        "steady": steady,
        "ratio": steady / ideal,
        "cpu_ms": cpu * 1000 / items,
        "calls": len(judge.calls),
        "seconds": elapsed,
        "load": os.getloadavg()[0],
    }


def render(figures: dict[str, float]) -> str:
    ok_rate = "✅" if figures["ratio"] >= 0.9 else "❌"
    ok_cpu = "✅" if figures["cpu_ms"] <= 2 else "❌"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            START,
            "## Experiment worker",
            "",
            f"`python -m bench.run --only experiment`, {stamp}: one `llma worker --concurrency "
            f"{figures['concurrency']:.0f}`, {figures['items']:.0f} items, one evaluation, a fake "
            f"provider on loopback answering in {LATENCY * 1000:.0f} ms; load average "
            f"{figures['load']:.1f} at the end.",
            "",
            "| figure | value | target |",
            "|---|---|---|",
            f"| items/s, middle 90 % of the run | {figures['steady']:.1f} | "
            f"≥ {0.9 * figures['ideal']:.0f} (0.9 x ideal {figures['ideal']:.0f}) {ok_rate} |",
            f"| items/s, whole run (planning and tail included) | {figures['overall']:.1f} | |",
            f"| ratio to ideal (middle 90 %) | {figures['ratio']:.2f} | ≥ 0.9 |",
            f"| worker CPU per judged item | {figures['cpu_ms']:.2f} ms | ≤ 2 ms {ok_cpu} |",
            f"| provider calls | {figures['calls']:.0f} | {figures['items']:.0f} |",
            "",
            END,
        ]
    )


def write(figures: dict[str, float], path: Path) -> None:
    section = render(figures)
    text = path.read_text() if path.exists() else ""
    if START in text and END in text:
        before, rest = text.split(START, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)


async def run(args: argparse.Namespace) -> int:
    server_url, _embedded = database.server_url(args.database_url)
    figures = await measure(server_url)
    for name, value in figures.items():
        print(f"  experiment {name:<12} {value:10.2f}", flush=True)
    write(figures, args.output)
    print(f"wrote the experiment section of {args.output}", flush=True)
    return 0
