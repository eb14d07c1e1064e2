"""Personal API keys, scopes and team resolution (SPEC §3)."""
