"""LLM analytics service: PostHog-compatible datasets, provider keys, evaluations and summaries."""
