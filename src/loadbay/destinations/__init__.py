"""Where validated rows go: SQL databases (SQLite, PostgreSQL) — ``destinations.sql``.

Nothing is imported here: the errors are needed by light modules (the API's request checks)
that must not load polars, which ``sql`` does.
"""
