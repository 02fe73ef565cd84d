"""`gateway db upgrade|status`: the state database's schema version, and applying migrations.

SQLite state upgrades itself when the gateway opens it. A shared PostgreSQL database is upgraded
only by ``gateway db upgrade``: run it once per release, from any one machine, before (or while)
the instances are restarted with the new code. Migrations are additive, so instances still on the
previous release keep serving while it runs; two upgrades at once apply each migration once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import psycopg

from gateway.cli.common import add_state_options, emit_json, load
from gateway.cli.report import parse_since
from gateway.config import GatewayConfig
from gateway.store.base import StoreError
from gateway.store.factory import describe, open_store


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "db", help="state database: schema status and migrations",
        description="Show or upgrade the schema of the gateway's state database.")
    actions = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    for name, fn, text in (("status", cmd_status, "the schema version the database is at, and the latest"),
                           ("upgrade", cmd_upgrade, "apply the pending schema migrations")):
        p = actions.add_parser(name, help=text, description=text)
        add_state_options(p)
        p.set_defaults(func=fn)
    p = actions.add_parser(
        "prune", help="delete old relay records and decisions (run it from a daily timer)",
        description="Delete relay records and decisions older than the given ages. The opt-out "
                    "registry, bounce notices, the quarantine and the audit log are kept.")
    add_state_options(p)
    p.add_argument("--relays-older-than", type=_age, default=None, metavar="AGE",
                   help="e.g. 120d; default: twice [bounces] correlation_days; 'keep' keeps them")
    p.add_argument("--decisions-older-than", type=_age, default=DEFAULT_DECISIONS_AGE, metavar="AGE",
                   help=f"e.g. 400d (the default: {DEFAULT_DECISIONS_AGE}); 'keep' keeps them")
    p.set_defaults(func=cmd_prune)


async def _status(config: GatewayConfig) -> dict[str, Any]:
    if config.state.database is None:
        from gateway.store.sqlite import SCHEMA_VERSION, SQLiteStore

        store = await SQLiteStore(config.state_dir).open()
        try:
            current = await store.schema_version()
        finally:
            await store.close()
        return {"backend": "sqlite", "database": describe(config), "schema_version": current,
                "latest": SCHEMA_VERSION}
    from gateway.store import migrate

    current = await migrate.current_version(config.state.database)
    return {"backend": "postgresql", "database": describe(config), "schema_version": current,
            "latest": migrate.LATEST_VERSION}


async def _upgrade(config: GatewayConfig) -> dict[str, Any]:
    if config.state.database is None:
        before = await _status(config)  # opening SQLite state applies its schema
        return {**before, "applied": []}
    from gateway.store import migrate

    applied = await migrate.upgrade(config.state.database)
    return {**await _status(config), "applied": applied}


def _run(args: argparse.Namespace, work: Any) -> dict[str, Any] | None:
    config = load(args, quiet=False)
    if config is None:
        return None
    try:
        result: dict[str, Any] = asyncio.run(work(config))
    except (StoreError, OSError, psycopg.Error) as exc:
        # psycopg's errors come from the migration code (unreachable server, refused login, a
        # failed migration): reported, not raised as a traceback at the admin.
        print(f"gateway db: {describe(config)}: {exc}".rstrip(), file=sys.stderr)
        return None
    return result


DEFAULT_DECISIONS_AGE = "400d"


def _age(value: str) -> str:
    """An age as given (checked here, turned into a time when the command runs)."""
    if value != "keep":
        parse_since(value)
    return value


def _before(age: str | None, now: float) -> float | None:
    return None if age == "keep" or age is None else parse_since(age, now)


async def _prune(config: GatewayConfig, relays_age: str | None, decisions_age: str) -> dict[str, Any]:
    # Relay records are what bounce notices are matched against: keep twice the window.
    relays_age = relays_age or f"{2 * config.bounces.correlation_days}d"
    now = time.time()
    relays_before, decisions_before = _before(relays_age, now), _before(decisions_age, now)
    store = await open_store(config)
    try:
        deleted = await store.prune(relays_before=relays_before, decisions_before=decisions_before)
    finally:
        await store.close()
    return {"database": describe(config), "relays_before": relays_before,
            "decisions_before": decisions_before, "deleted": deleted}


def cmd_prune(args: argparse.Namespace) -> int:
    result = _run(args, lambda config: _prune(config, args.relays_older_than, args.decisions_older_than))
    if result is None:
        return 2
    if args.json:
        emit_json(result)
    else:
        deleted = result["deleted"]
        print(f"{result['database']}: deleted {deleted['relays']} relay records and {deleted['decisions']} decisions")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _run(args, _status)
    if status is None:
        return 2
    behind = status["schema_version"] < status["latest"]
    if args.json:
        emit_json({**status, "up_to_date": not behind})
    else:
        print(f"{status['backend']} {status['database']}: schema version {status['schema_version']}"
              f" (latest {status['latest']})" + ("; run `gateway db upgrade`" if behind else ", up to date"))
    return 1 if behind else 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    result = _run(args, _upgrade)
    if result is None:
        return 2
    if args.json:
        emit_json(result)
    elif result["applied"]:
        print(f"{result['database']}: applied migrations {', '.join(map(str, result['applied']))};"
              f" schema version {result['schema_version']}")
    else:
        print(f"{result['database']}: schema version {result['schema_version']}, nothing to apply")
    return 0
