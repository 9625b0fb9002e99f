"""Metadata in SQLite through SQLModel and aiosqlite, schema versioned by Alembic."""
