"""Real servers for the reliability checks: `llma serve` on loopback, identities, load.

Everything here talks to real processes over real sockets: the service runs as a subprocess
(its log goes to a file, so a chatty server can never block on a full pipe), and load comes from
many concurrent httpx clients that record every outcome instead of raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from cryptography.fernet import Fernet

from app.db.engine import create_engine, create_sessionmaker
from tests.factories import make_identity


@dataclass(frozen=True)
class StartedProcess:
    """A server process a test started; `created` tells it from a later one reusing the pid."""

    what: str
    pid: int
    created: float


STARTED: list[StartedProcess] = []


def track(what: str, pid: int) -> None:
    """Record a process this suite started, for the check at the end of the session."""
    try:
        created = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return
    STARTED.append(StartedProcess(what, pid, created))


def still_running() -> list[StartedProcess]:
    alive = []
    for started in STARTED:
        try:
            process = psutil.Process(started.pid)
            if process.create_time() == started.created and process.status() not in (
                psutil.STATUS_ZOMBIE,
                psutil.STATUS_DEAD,
            ):
                alive.append(started)
        except psutil.NoSuchProcess:
            continue
    return alive


def stop_processes(leftovers: list[StartedProcess]) -> None:
    """Terminate (then kill) leftovers and their children, so a failed run cleans up too."""
    processes = []
    for started in leftovers:
        try:
            process = psutil.Process(started.pid)
            processes += [*process.children(recursive=True), process]
        except psutil.NoSuchProcess:
            continue
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=10)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    base: str
    log_path: Path
    process: asyncio.subprocess.Process

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@asynccontextmanager
async def serving(
    database_url: str, log_dir: Path, *, workers: int = 1, **env: str
) -> AsyncIterator[Service]:
    """`llma serve` on a free loopback port until the block ends (SIGINT, then SIGKILL)."""
    port = free_port()
    log_path = log_dir / f"service-{port}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *["-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            *["--workers", str(workers)],
            env={
                **os.environ,
                "DATABASE_URL": database_url,
                "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
                "LOG_FORMAT": "json",
                **env,
            },
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    track(f"llma serve on port {port}", process.pid)
    service = Service(base=f"http://127.0.0.1:{port}", log_path=log_path, process=process)
    try:
        await _wait_healthy(service)
        yield service
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(process.wait(), timeout=20)
            except TimeoutError:
                # Its workers first: killing the supervisor alone would orphan them.
                stop_processes([StartedProcess("llma serve", process.pid, 0.0)])
                process.kill()
                await process.wait()


async def _wait_healthy(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.base, timeout=5) as client:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if service.process.returncode is not None:
                raise AssertionError(f"llma serve exited:\n{service.log()[-3000:]}")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"llma serve did not become healthy:\n{service.log()[-3000:]}")


@dataclass(frozen=True)
class Tenant:
    team_id: int
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


async def provision(database_url: str, *, ai_approved: bool = True) -> Tenant:
    """An organization, team, user and `*` key, committed for real."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            identity = await make_identity(session, ai_approved=ai_approved)
            await session.commit()
            return Tenant(team_id=identity.team.id, api_key=identity.api_key)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Outcome:
    """One request as the client saw it; `status` is None when no answer came back."""

    started: float
    elapsed: float
    status: int | None
    body: Any
    error: str | None = None


@dataclass
class Recorder:
    outcomes: list[Outcome] = field(default_factory=list)

    async def send(
        self, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
    ) -> Outcome:
        started = time.monotonic()
        try:
            response = await client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            outcome = Outcome(started, time.monotonic() - started, None, None, repr(exc))
        else:
            try:
                body: Any = response.json()
            except ValueError:
                body = response.text
            outcome = Outcome(started, time.monotonic() - started, response.status_code, body)
        self.outcomes.append(outcome)
        return outcome


async def hammer(
    clients: int, until: Callable[[], bool], one_request: Callable[[int, int], Awaitable[Any]]
) -> None:
    """`clients` concurrent loops, each sending its next request as soon as one is answered."""

    async def loop(client_number: int) -> None:
        sequence = 0
        while not until():
            await one_request(client_number, sequence)
            sequence += 1

    await asyncio.gather(*(loop(n) for n in range(clients)))
