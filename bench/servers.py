"""The two contenders as real uvicorn servers on loopback; their workers' memory and CPU.

The service runs `llma serve`, exactly as deployed; the baseline runs `bench.serve`, which
gives it the same uvicorn options (workers, uvloop and httptools, no uvicorn access log, 30 s
worker health check). The service logs as deployed (JSON at INFO, one access line per request,
to bench/.data/logs/service.log).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
from cryptography.fernet import Fernet

from bench.database import DATA_DIR, plain_dsn
from tests.reliability.harness import free_port

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: IO[bytes]
    served: int = field(default=0)  # requests driven since the memory snapshot
    seen_workers: set[int] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def workers(self) -> list[psutil.Process]:
        """uvicorn's worker processes (spawned children), not its supervisor."""
        found = []
        for child in psutil.Process(self.process.pid).children(recursive=True):
            try:
                if "spawn_main" in " ".join(child.cmdline()):
                    found.append(child)
            except psutil.NoSuchProcess:  # a worker uvicorn just replaced
                continue
        return found

    def worker_rss_mib(self) -> list[float]:
        sizes = []
        for worker in self.workers():
            try:
                sizes.append(round(worker.memory_info().rss / 2**20, 1))
            except psutil.NoSuchProcess:
                continue
        return sizes

    def cpu_seconds(self) -> float:
        """CPU used so far by the current workers (user + system)."""
        return sum(_cpu(w) for w in self.workers())

    def restarts(self) -> int:
        """Workers that replaced one uvicorn killed or lost since the first call."""
        current = {w.pid for w in self.workers()}
        if not self.seen_workers:
            self.seen_workers = current
        new = current - self.seen_workers
        self.seen_workers |= current
        return len(new)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def postgres_cpu_seconds(pgdata: Path | None) -> float | None:
    """CPU used so far by the backends of the embedded server (None for a given server)."""
    if pgdata is None or not (pgdata / "postmaster.pid").exists():
        return None
    pid = int((pgdata / "postmaster.pid").read_text().split()[0])
    try:
        postmaster = psutil.Process(pid)
        # Backends and parallel workers that already exited count through the postmaster's
        # `children_*` times (it reaps them); live ones through their own.
        times = postmaster.cpu_times()
        reaped = times.user + times.system + times.children_user + times.children_system
        return float(reaped) + sum(_cpu(child) for child in postmaster.children())
    except psutil.NoSuchProcess:
        return None


def _spawn(name: str, command: list[str], env: dict[str, str], port: int) -> Server:
    logs = DATA_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(name=name, process=process, port=port, log=log)


def start_service(
    database_url: str, workers: int, extra_env: dict[str, str] | None = None
) -> Server:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "APP_ENV": "development",
        "LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--workers", str(workers)]
    return _spawn("service", command, env, port)


def start_baseline(database_url: str, workers: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "bench.serve", "--port", str(port), "--workers", str(workers)]
    return _spawn("baseline", command, {"BASELINE_DSN": plain_dsn(database_url)}, port)


async def wait_ready(server: Server, probe: str, headers: dict[str, str], workers: int) -> None:
    """Until `probe` answers 200 and every worker is up (each has opened its pool)."""
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"{server.name} exited; see {server.log.name}")
            try:
                response = await client.get(probe, headers=headers)
                if response.status_code == 200 and len(server.workers()) >= workers:
                    # A few more so that every worker has answered at least once.
                    await asyncio.gather(*(client.get(probe, headers=headers) for _ in range(8)))
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{server.name} did not become ready; see {server.log.name}")


def describe_machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import platform

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
