"""`llma worker`: runs experiment jobs from the PostgreSQL queue until SIGINT/SIGTERM; any
number of workers, on any machine that reaches the database (`llma serve` runs one in-process
in development)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from app.cli.common import CommandFactory
from app.cli.serve import check_serve_settings
from app.db.embedded import resolve_database_url
from app.settings import Settings

logger = logging.getLogger("app.cli")


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    from app.experiments.jobs import supervise

    if args.concurrency is not None:
        settings = settings.model_copy(update={"experiment_worker_concurrency": args.concurrency})
    check_serve_settings(settings)  # production: DATABASE_URL and ENCRYPTION_KEYS, named
    url = resolve_database_url(settings)
    if args.metrics_port is not None:
        # The worker serves no HTTP of its own: its Prometheus series (jobs by kind and final
        # state, provider calls by provider and outcome, call latency) get a port of their own.
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr=args.metrics_host)

    async def work() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await supervise(settings, url, stop=stop)

    logger.info(
        "experiment worker starting", extra={"concurrency": settings.experiment_worker_concurrency}
    )
    asyncio.run(work())
    return 0


def register(command: CommandFactory) -> None:
    worker = command("worker", "run experiment jobs from the queue")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="provider calls in flight at once (default: EXPERIMENT_WORKER_CONCURRENCY)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this worker's Prometheus metrics on this port (default: not served)",
    )
    worker.add_argument("--metrics-host", default="0.0.0.0", help="address for --metrics-port")
    worker.set_defaults(handler=cmd_worker)
