"""`llma serve`: settings and port checked before anything is printed or migrated, the metrics
folder shared by the workers, the embedded database, migrations, the demo key, then uvicorn."""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import shutil
import socket
import tempfile
from pathlib import Path

from app.cli.common import CommandError, CommandFactory
from app.cli.database import run_migrations, with_session
from app.crypto import EncryptionConfigError
from app.db.embedded import DatabaseConfigError, resolve_database_url
from app.settings import Settings

# uvicorn's default 5 s lets the supervisor kill workers that are merely starved of CPU on a
# loaded 2-core host (seen in `make bench`), dropping their in-flight requests.
WORKER_HEALTHCHECK_SECONDS = 30
# `app.metrics.MULTIPROC_ENV`, named again here: importing app.metrics would fix
# prometheus-client's mode before the folder is set.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def check_serve_settings(settings: Settings) -> None:
    """What `serve` needs from the settings, all checked before any database work."""
    from app.crypto import build_secret_box

    problems: list[str] = []
    if settings.is_production and not settings.database_url:
        try:
            resolve_database_url(settings)
        except DatabaseConfigError as exc:
            problems.append(str(exc))
    try:
        build_secret_box(settings)
    except EncryptionConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise CommandError("; ".join(problems))


def check_port_free(host: str, port: int) -> None:
    """Fail before printing a key or touching the database when the address is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CommandError(
            f"cannot listen on {host}:{port}: {exc.strerror} (HOST or --host)"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As uvicorn binds: a port in TIME_WAIT is free, one with a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise CommandError(
                f"cannot listen on {host}:{port}: {reason}; choose another port with "
                f"PORT={port + 1} or --port {port + 1} (make run PORT={port + 1})"
            ) from None


def prepare_metrics_dir(workers: int) -> str | None:
    """Set up prometheus-client's multiprocess mode (`app.metrics`) before anything imports it.

    Several workers share one folder of metric files: PROMETHEUS_MULTIPROC_DIR when the
    operator names one (emptied of the last run's files), else a fresh temporary folder that
    `serve` removes on exit. Returns the folder to remove, if any.
    """
    configured = os.environ.get(METRICS_DIR_ENV)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    created = tempfile.mkdtemp(prefix="llma-metrics-")
    os.environ[METRICS_DIR_ENV] = created
    return created


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    metrics_dir = prepare_metrics_dir(args.workers)
    try:
        return _serve(args, settings)
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.auth.demo import ensure_demo_identity
    from app.web.serving import uvicorn_options

    host = args.host if args.host is not None else settings.host
    port = args.port if args.port is not None else settings.port
    # Nothing is printed and the database is not touched until port and settings check out.
    check_port_free(host, port)
    check_serve_settings(settings)
    url = resolve_database_url(settings)
    # Workers are separate processes: they find the (embedded) database through the env.
    os.environ["DATABASE_URL"] = url
    run_migrations(url)
    if not settings.is_production:
        asyncio.run(with_session(url, lambda session: ensure_demo_identity(session, host, port)))
    uvicorn.run(
        "app.main:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=args.workers,
        log_config=None,
        proxy_headers=True,
        access_log=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # Slow and idle clients: SERVER_LIMIT_CONCURRENCY, _KEEP_ALIVE_, _HEADER_TIMEOUT_SECONDS.
        **uvicorn_options(settings),
    )
    return 0


def register(command: CommandFactory) -> None:
    serve = command("serve", "embedded PostgreSQL if needed, migrations, uvicorn")
    serve.add_argument(
        "--host", default=None, help="address to listen on (default: HOST, else 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: PORT, else 8000)"
    )
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(handler=cmd_serve)
