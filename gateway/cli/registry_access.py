"""What the ``gateway optouts`` commands share: the registry opened from ``--config``, the tenant and
the alias checked against it, the acting user, a record as a row, and errors as exit code 2."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import getpass
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from gateway.classify import Classifier
from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.store.base import AliasRecord, Store, StoreError
from gateway.store.factory import open_store


class UsageError(Exception):
    pass


@asynccontextmanager
async def open_registry(args: argparse.Namespace) -> AsyncIterator[tuple[Store, GatewayConfig]]:
    config = load_config(args.config)
    store = await open_store(config)
    try:
        yield store, config
    finally:
        await store.close()


@dataclass(frozen=True)
class AliasAt:
    """The registry, and the alias a command names (checked) in the tenant it names."""

    store: Store
    tenant: str
    alias: str
    marketplace: str


@asynccontextmanager
async def open_alias(args: argparse.Namespace) -> AsyncIterator[AliasAt]:
    """``open_registry`` for a command on ``args.alias`` in ``--tenant`` (default: the implicit one)."""
    async with open_registry(args) as (store, config):
        tenant = tenant_of(args, config) or ""
        alias, marketplace = alias_of(config, args.alias)
        yield AliasAt(store, tenant, alias, marketplace)


def tenant_of(args: argparse.Namespace, config: GatewayConfig, *, every: bool = False) -> str | None:
    """The --tenant given (checked against the config); without one, "" or, with ``every``, None
    (all tenants)."""
    tenant: str | None = args.tenant
    if tenant is None:
        return None if every else ""
    if tenant not in config.tenant_ids():
        known = ", ".join(repr(t) for t in config.tenant_ids())
        raise UsageError(f"no tenant {tenant!r} in the configuration (known: {known})")
    return tenant


def audit_object(alias: str, tenant: str) -> str:
    return f"{tenant}/{alias}" if tenant else alias


def acting_user(args: argparse.Namespace) -> str:
    if getattr(args, "actor", None):
        return str(args.actor)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "admin"


def iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


def record_row(record: AliasRecord) -> dict[str, Any]:
    return {"alias": record.alias, "status": record.status, "marketplace": record.marketplace,
            "order_id": record.order_id, "first_seen": iso(record.first_seen),
            "last_seen": iso(record.last_seen), "evidence": record.evidence, "source": record.source,
            "tenant": record.tenant}


def alias_of(config: GatewayConfig, address: str) -> tuple[str, str]:
    found = Classifier(config.marketplace.tlds, config.marketplace.domain_prefix).classify(address.strip())
    if found is None:
        raise UsageError(f"not a marketplace buyer alias: {address!r} "
                         f"(expected <alias>@{config.marketplace.domain_prefix}<tld>)")
    return found.alias, found.marketplace


def fail(message: str) -> int:
    print(f"gateway optouts: {message}", file=sys.stderr)
    return 2



def command(fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> Callable[[argparse.Namespace], int]:
    """A sub-command's coroutine as the ``func`` argparse calls: run, with a bad config, a usage
    error, an unusable state or an unreadable file said on stderr (exit code 2)."""
    def run(args: argparse.Namespace) -> int:
        try:
            return asyncio.run(fn(args))
        except ConfigError as exc:
            return fail(str(exc))
        except UsageError as exc:
            return fail(str(exc))
        except StoreError as exc:
            return fail(f"state: {exc}")
        except OSError as exc:
            return fail(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}")
    return run
