"""Evaluations (LLM-judge definitions) and their runs (SPEC §5.7)."""
