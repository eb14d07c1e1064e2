"""The database layer: ORM base, engine and pool, the per-request session (the one owner of
transactions), the prebuilt-statement driver for hot paths, the embedded PostgreSQL for
development, and the migrations that ship inside the package."""
