"""State backends: the Store interface (base), SQLite (embedded default) and PostgreSQL (shared)."""
