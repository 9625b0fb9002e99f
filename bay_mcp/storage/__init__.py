"""Storage: the database (SQLite or PostgreSQL through SQLModel, schema versioned by
Alembic) and the repositories that hold every SQL statement, one module per concept:
`sandboxes`, `sessions`, `cargos`, `snapshots`, `executions` (the history),
`exposures` (ports), `api_keys`, `idempotency`, `leases` and `secrets`; `paging` cuts
cursor pages in a query, `row_reads` makes a warm call's one read cheap."""
