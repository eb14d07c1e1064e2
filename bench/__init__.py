"""`make bench`: the service against a bare asyncpg + Starlette baseline (SPEC §10)."""
