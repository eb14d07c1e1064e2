"""Prometheus metrics of the experiment worker (default registry; scraped via /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

JOBS = Counter(
    "llma_experiment_jobs_total",
    "Experiment queue jobs by kind and final state.",
    ["kind", "state"],
)
CALLS = Counter(
    "llma_experiment_provider_calls_total",
    "Provider calls made by experiments, by provider and outcome.",
    ["provider", "outcome"],
)
CALL_LATENCY = Histogram(
    "llma_experiment_provider_call_seconds",
    "Latency of experiments' provider calls.",
    ["provider"],
    buckets=(0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60),
)
