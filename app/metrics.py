"""The Prometheus series served at `/metrics`, and how a scrape collects them.

One uvicorn worker is one process with its own counters. With several workers, `llma serve`
points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any worker starts: prometheus-client
then keeps every value in per-process files there (its multiprocess mode, chosen when the library
is first imported), and a scrape, whichever worker answers it, sums the files of all workers.
Gauges say how they combine (`livesum`: the sum over live workers; a worker that shuts down
removes its gauge files).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120),
)

# Outcomes of one outbound call: ok (2xx), auth_error (401/403), rate_limited (429),
# server_error (5xx), client_error (other 4xx), timeout, connection_error (refused, DNS, TLS),
# invalid_request (could not be put on the wire), aborted (cancelled before an answer).
PROVIDER_CALLS = Counter(
    "llm_provider_calls",
    "Outbound LLM provider calls by provider and outcome.",
    ["provider", "outcome"],
)
PROVIDER_LATENCY = Histogram(
    "llm_provider_call_duration_seconds",
    "Outbound LLM provider call latency by provider (every outcome).",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120),
)
SUMMARY_CACHE = Counter(
    "evaluation_summary_cache_lookups",
    "Evaluation summaries served from the cache (hit) or computed by a provider call (miss).",
    ["result"],
)
THROTTLED = Counter(
    "throttled_requests",
    "Requests refused with 429, by the throttle that refused them "
    "(burst: per minute, sustained: per hour, daily: per day).",
    ["reason"],
)
DB_POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)
DB_POOL_WAITING = Gauge(
    "db_pool_checkouts_waiting",
    "Requests waiting for a database connection (pool exhausted, or a connection being opened).",
    multiprocess_mode="livesum",
)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def render() -> bytes:
    """The exposition text: this process's registry, or every worker's values in multiprocess
    mode (a fresh registry per scrape, as prometheus-client asks)."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def worker_stopped() -> None:
    """Drop this worker's live gauges from the shared folder (counters stay: they are totals)."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]
