"""Start the baseline under uvicorn with the options `llma serve` gives the service.

`python -m bench.serve --port P --workers N`: `bench.baseline:app` with uvicorn's access log
off, proxy headers on, warnings only, a 30 s worker health check, and the connection limits
(app/web/serving.py) as in `llma serve`. (With
uvicorn's default 5 s, a worker starved of CPU on a loaded 2-core machine misses a ping and is
SIGKILLed, and its replacement, still importing, misses the next: a benchmark would measure
restart loops.)
"""

from __future__ import annotations

import argparse

import uvicorn

from app.cli.serve import WORKER_HEALTHCHECK_SECONDS
from app.settings import get_settings
from app.web.serving import uvicorn_options


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run(
        "bench.baseline:app",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_level="warning",
        proxy_headers=True,
        access_log=False,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        **uvicorn_options(get_settings()),
    )


if __name__ == "__main__":
    main()
