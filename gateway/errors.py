"""The gateway's exception tree: one base, and the failures callers catch by type.

Decisions about mail are values (a ``Verdict``, a pipeline ``Outcome``), never exceptions: these
are for things that could not be done at all. Every exception the gateway raises on purpose is a
``GatewayError``::

    GatewayError
    ├── ConfigError            gateway.config: the configuration cannot be loaded (source, errors)
    ├── PolicyLoadError        gateway.policy.loader: a rule pack cannot be loaded (file, rule)
    ├── CredentialsError       gateway.auth: the credentials file cannot be used
    ├── StoreError             the state backend cannot be used (both backends raise only this)
    │   ├── SchemaError        gateway.store.postgres.core: the schema is older than this code
    │   └── DatabaseUnavailable  gateway.store.postgres.core: the connection is gone
    ├── SpoolError             gateway.spool: the spool cannot take or give a message
    └── ReviewError            gateway.quarantine: a quarantine action was refused (code, status)

The classes live beside the code that raises them, except the ones several layers raise or catch
(``StoreError``, ``ReviewError``), which live here so no layer imports another just for a type.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error the gateway raises on purpose."""


class StoreError(GatewayError):
    """The state backend cannot be used: unreachable, broken, or its schema is not the one this
    code needs. Every backend raises its failures as this (or a subclass), with a message for an
    admin; SQLite's ``sqlite3.Error`` and file errors arrive as this too."""


class ReviewError(GatewayError):
    """A quarantine action that was refused; ``code`` is a stable word for scripts and the API,
    ``status`` the HTTP status the admin API answers with."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
