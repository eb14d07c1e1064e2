"""Start one contender under uvicorn with the options `llma serve` uses, for both alike.

`python -m bench.serve service|baseline --port P --workers N`. The service runs the factory
that `llma serve` runs (`app.main:create_app_from_env`, logging configured by the app, uvicorn's
access log off, proxy headers on); the baseline runs `bench.baseline:app` the same way.

One difference from `llma serve`: the supervisor's worker health-check timeout is 30 s, not
uvicorn's 5 s. On a loaded 2-core machine a worker that is starting (importing the app) or
saturated can miss a 5 s ping; uvicorn then SIGKILLs it and the replacement, still importing,
misses the next ping too, so a benchmark would measure restart loops (seen: six kills in a row).
"""

from __future__ import annotations

import argparse

import uvicorn

APPS = {"service": "app.main:create_app_from_env", "baseline": "bench.baseline:app"}
HEALTHCHECK_SECONDS = 30


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.serve")
    parser.add_argument("contender", choices=sorted(APPS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    uvicorn.run(
        APPS[args.contender],
        factory=args.contender == "service",
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_config=None if args.contender == "service" else uvicorn.config.LOGGING_CONFIG,
        log_level=None if args.contender == "service" else "warning",
        proxy_headers=True,
        access_log=False,
        timeout_worker_healthcheck=HEALTHCHECK_SECONDS,
    )


if __name__ == "__main__":
    main()
