"""Bulk import and export against a real `llma serve` on loopback: the CLI end to end, live
answers while the body is still coming, and a socket closed mid-body."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from cryptography.fernet import Fernet

from tests import database
from tests.foundation.test_serve import Served, serving

BATCH = 2000


@pytest.fixture
async def served(server_url: str) -> AsyncIterator[tuple[Served, dict[str, Any]]]:
    url = await database.create_database(server_url, prefix="llma_bulk")
    env = {"DATABASE_URL": url, "LOG_FORMAT": "json"}
    try:
        boot = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "app.cli", "bootstrap", "--email", "bulk@example.com", "--json"],
            capture_output=True,
            text=True,
            env={**os.environ, **env},
            timeout=120,
            check=True,
        )
        identity = json.loads(boot.stdout)
        keys = {"ENCRYPTION_KEYS": Fernet.generate_key().decode(), "IMPORT_BATCH_SIZE": str(BATCH)}
        async with serving(url, **keys) as server:
            yield server, identity
    finally:
        await database.drop_database(server_url, url)


def llma(
    *args: str, server: Served, api_key: str, stdout: Any = subprocess.PIPE
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LLMA_URL": server.base, "LLMA_API_KEY": api_key}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


async def _dataset(server: Served, identity: dict[str, Any]) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(
        base_url=f"{server.base}/api/environments/{identity['team_id']}",
        headers={"Authorization": f"Bearer {identity['api_key']}"},
    )
    response = await client.post("/datasets/", json={"name": "served"})
    assert response.status_code == 201, response.text
    return client, response.json()["id"]


async def _count(client: httpx.AsyncClient, dataset_id: str) -> int:
    response = await client.get(f"/datasets/{dataset_id}/")
    count: int = response.json()["item_count"]
    return count


def _lines(count: int) -> tuple[list[str], bytes]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    body = b"".join(
        orjson.dumps({"id": item_id, "input": {"n": n}, "output": f"answer {n}"}) + b"\n"
        for n, item_id in enumerate(ids)
    )
    return ids, body


async def test_cli_import_then_export(
    served: tuple[Served, dict[str, Any]], tmp_path: Path
) -> None:
    server, identity = served
    client, dataset_id = await _dataset(server, identity)
    ids, body = _lines(5000)
    source = tmp_path / "items.ndjson"
    source.write_bytes(body)
    report = tmp_path / "report.ndjson"

    done = await asyncio.to_thread(
        llma,
        "import-items",
        "--dataset",
        dataset_id,
        str(source),
        "--report",
        str(report),
        server=server,
        api_key=identity["api_key"],
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["created"] == 5000
    answers = report.read_text().splitlines()
    assert len(answers) == 5001
    assert [json.loads(line)["id"] for line in answers[:-1]] == ids
    assert await _count(client, dataset_id) == 5000

    exported = tmp_path / "export.ndjson"
    with exported.open("w") as target:
        done = await asyncio.to_thread(
            llma,
            "export-items",
            "--dataset",
            dataset_id,
            server=server,
            api_key=identity["api_key"],
            stdout=target,
        )
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["id"] for line in exported.read_text().splitlines()] == ids

    # The same file again: everything is already there.
    again = await asyncio.to_thread(
        llma,
        "import-items",
        "--dataset",
        dataset_id,
        str(exported),
        "--report",
        str(report),
        server=server,
        api_key=identity["api_key"],
    )
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["unchanged"] == 5000

    refused = await asyncio.to_thread(
        llma,
        "import-items",
        "--dataset",
        dataset_id,
        str(source),
        server=server,
        api_key="phx_" + "x" * 40,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1] == (
        "llma: error: the API key was refused: set LLMA_API_KEY (or --api-key)"
    )
    missing = await asyncio.to_thread(
        llma,
        "export-items",
        "--dataset",
        str(uuid.uuid4()),
        server=server,
        api_key=identity["api_key"],
    )
    assert missing.returncode == 1
    assert "not found" in missing.stderr

    # All or nothing, on a real server's own transactions (batches of 2000: the bad line is in
    # the second batch, after the first was written inside the same transaction).
    _, good = _lines(2500)
    mixed = tmp_path / "mixed.ndjson"
    mixed.write_bytes(good + b"{not json}\n")
    atomic = await asyncio.to_thread(
        llma,
        "import-items",
        "--dataset",
        dataset_id,
        str(mixed),
        "--atomic",
        "--report",
        str(report),
        server=server,
        api_key=identity["api_key"],
    )
    assert atomic.returncode == 1
    assert "nothing was committed" in atomic.stderr
    assert json.loads(atomic.stdout)["committed"] is False
    assert await _count(client, dataset_id) == 5000
    await client.aclose()


async def test_socket_closed_mid_body(
    served: tuple[Served, dict[str, Any]], tmp_path: Path
) -> None:
    server, identity = served
    client, dataset_id = await _dataset(server, identity)
    ids, body = _lines(5000)
    # Two full batches and part of a third, then the connection drops inside a line.
    cut = body.index(ids[4500].encode()) + 5
    host, port = urlsplit(server.base).hostname, urlsplit(server.base).port
    reader, writer = await asyncio.open_connection(host, port)
    path = f"/api/projects/{identity['team_id']}/datasets/{dataset_id}/items/import"
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {identity['api_key']}\r\n"
            f"Content-Type: application/x-ndjson\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body[:cut]
    )
    await writer.drain()
    # The answers of committed batches arrive while the body is still open.
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=60)
    assert head.startswith(b"HTTP/1.1 200")
    answered: list[dict[str, Any]] = []
    raw = b""  # chunked transfer encoding, undone by hand
    content = b""
    while len(answered) < 2 * BATCH:
        chunk = await asyncio.wait_for(reader.read(65536), timeout=60)
        assert chunk, "the server closed the answer early"
        raw += chunk
        while b"\r\n" in raw:
            size_line, rest = raw.split(b"\r\n", 1)
            size = int(size_line, 16)
            if len(rest) < size + 2:
                break
            content += rest[:size]
            raw = rest[size + 2 :]
        *complete, content = content.split(b"\n")
        answered += [orjson.loads(line) for line in complete]
    assert [a["id"] for a in answered[: 2 * BATCH]] == ids[: 2 * BATCH]
    writer.close()
    await asyncio.sleep(1.0)
    assert await _count(client, dataset_id) == 2 * BATCH

    # Run it again whole: the acknowledged lines are unchanged, the rest is created.
    source = tmp_path / "items.ndjson"
    source.write_bytes(body)
    done = await asyncio.to_thread(
        llma,
        "import-items",
        "--dataset",
        dataset_id,
        str(source),
        "--report",
        str(tmp_path / "report.ndjson"),
        server=server,
        api_key=identity["api_key"],
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["unchanged"], summary["created"]) == (2 * BATCH, 5000 - 2 * BATCH)
    assert await _count(client, dataset_id) == 5000
    await client.aclose()
