"""Driving load with `wrk` (a separate C process, so the client never competes with Python).

A scenario is a list of requests replayed round robin by `bench/wrk.lua` from a TSV file;
one `drive()` call is one bounded wrk run and returns its summary.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

LUA = Path(__file__).resolve().parent / "wrk.lua"
INSTALL_HINT = (
    "wrk is not installed. On Debian/Ubuntu: `sudo apt-get install -y wrk` "
    "(macOS: `brew install wrk`), then run `make bench` again."
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True)
class Result:
    """One wrk run. Latencies in milliseconds."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    load_before: float = 0.0  # 1-minute load average when the run started
    app_cpu_ms: float = 0.0  # CPU of the contender's workers per request
    db_cpu_ms: float | None = None  # CPU of the embedded PostgreSQL per request
    restarts: int = 0  # workers uvicorn replaced during the run

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rps": round(self.rps, 1)}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def write_requests(path: Path, requests: list[Request]) -> Path:
    lines = []
    for request in requests:
        body = b"" if request.body is None else b"\t" + request.body
        if b"\n" in body or b"\t" in body[1:]:
            raise ValueError("request bodies must be single-line JSON without tabs")
        lines.append(f"{request.method}\t{request.path}".encode() + body)
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


async def drive(
    base_url: str,
    requests_file: Path,
    *,
    api_key: str,
    seconds: float,
    clients: int,
    threads: int,
) -> Result:
    """One closed-loop run: `clients` connections, each sending its next request on answer."""
    wrk = wrk_path()
    if wrk is None:
        raise RuntimeError(INSTALL_HINT)
    process = await asyncio.create_subprocess_exec(
        wrk,
        f"-t{threads}",
        f"-c{clients}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "60s",
        "-H",
        f"Authorization: Bearer {api_key}",
        "-s",
        str(LUA),
        base_url,
        "--",
        str(requests_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    for line in out.decode().splitlines():
        if line.startswith("WRK_JSON "):
            raw = orjson.loads(line.removeprefix("WRK_JSON "))
            break
    else:
        raise RuntimeError(f"wrk failed ({process.returncode}): {err.decode()}{out.decode()}")
    errors = raw["status_errors"] + raw["connect_errors"] + raw["read_errors"]
    errors += raw["write_errors"] + raw["timeouts"]
    return Result(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        errors=errors,
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        mean_ms=raw["mean_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )
