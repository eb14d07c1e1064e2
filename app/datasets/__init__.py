"""Evaluation datasets and their items (SPEC §5.1, §5.2): schemas, team-bound SQL, routes."""
