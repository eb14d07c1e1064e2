"""Experiments: datasets run through LLM judges on the PostgreSQL job queue (pgqueuer)."""
