"""``[state]``: where an instance keeps its spool and its state (SQLite here, or PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from gateway.config.base import PositiveInt, Section


class StateConfig(Section):
    # This instance's own files: its durable spool, and (without ``database``) the SQLite state.
    directory: Path = Path("state")
    # Shared state for several instances: a PostgreSQL DSN ("postgresql://user@host/dbname" or
    # "host=... dbname=..."; the password from the DSN, PGPASSFILE or PGPASSWORD). Absent: SQLite
    # in ``directory``.
    database: str | None = None
    pool_min_size: Annotated[int, Field(ge=0)] = 1
    pool_max_size: PositiveInt = 10
    # Free space kept on the state file system (like Postfix's queue_minfree): below it new mail
    # gets 452 4.3.1 while delivery goes on, since recording results needs a little room too.
    # 0 turns the reserve (and the ballast file) off: a full disk can then stop delivery.
    min_free_bytes: Annotated[int, Field(ge=0)] = 64 * 1024 * 1024
    # A cap on the spool database's size (None: only the free-space reserve limits it).
    spool_max_bytes: PositiveInt | None = None

    @field_validator("database")
    @classmethod
    def _postgres_dsn(cls, value: str | None) -> str | None:
        """A libpq connection string: a URI (postgresql://user@host/dbname) or key=value pairs."""
        if value is None:
            return None
        message = "database must be a PostgreSQL DSN (postgresql://user@host/dbname or host=... dbname=...)"
        if "://" in value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError(message)
        from psycopg.conninfo import conninfo_to_dict

        try:
            conninfo_to_dict(value)
        except Exception:
            raise ValueError(message) from None
        return value

    @model_validator(mode="after")
    def _pool_sizes(self) -> StateConfig:
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("pool_min_size must not exceed pool_max_size")
        return self

