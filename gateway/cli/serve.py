"""`gateway serve [--config FILE]`: run the gateway in the foreground."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from gateway.config import ConfigError, GatewayConfig, load_config
from gateway.log import configure_logging, get_logger

T = TypeVar("T")

# glibc's mallopt parameter number for the mmap threshold (malloc.h: M_MMAP_THRESHOLD).
_M_MMAP_THRESHOLD = -3


def return_large_buffers_to_os(threshold: int = 1024 * 1024) -> bool:
    """Serve allocations of ``threshold`` bytes and more with mmap, so freeing them returns memory.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB), after which
    multi-megabyte message buffers come from the heap and stay in RSS once freed; a fixed threshold
    keeps RSS close to what is really in use. Same as MALLOC_MMAP_THRESHOLD_=1048576. No-op off glibc.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, threshold))
    except (OSError, AttributeError):
        return False


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the SMTP gateway",
        description="Run the SMTP gateway. Without --config: embedded defaults (127.0.0.1:2525, "
                    "state in ./state, a Maildir outbox as upstream).")
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument("--accept-empty-spool", action="store_true",
                        help="start although the spool this state directory had is missing or empty "
                             "(its pending messages are then lost)")
    parser.add_argument("--workers", type=_workers_arg, metavar="N|auto",
                        help="worker processes sharing the listening sockets (overrides [server] workers; "
                             "auto: one per CPU)")
    parser.set_defaults(func=run)
    worker = sub.add_parser(
        "worker", help="one worker process of a serving gateway (started by serve --workers N)",
        description="Serve SMTP on sockets inherited from `gateway serve`, which starts and watches "
                    "its workers and sends each its configuration over the control channel.")
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--control-fd", type=int, required=True)
    worker.add_argument("--listen", action="append", default=[], metavar="KEY=FD[,FD]")
    worker.add_argument("--event-loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    worker.set_defaults(func=run_worker)
    deliver = sub.add_parser(
        "deliver", help="run only delivery from the spool (normally started by serve)",
        description="Deliver what the spool holds, without listening. `gateway serve` starts this "
                    "itself when [delivery] process = \"separate\".")
    source = deliver.add_mutually_exclusive_group()
    source.add_argument("--config", type=Path, help="TOML configuration file")
    source.add_argument("--config-stdin", action="store_true", help="read the configuration as JSON on stdin")
    deliver.add_argument("--watch-parent", action="store_true",
                         help="with --config-stdin: the JSON is one line, and end of file on stdin "
                              "afterwards (the parent is gone) stops delivery")
    deliver.set_defaults(func=deliver_only)
    reload = sub.add_parser(
        "reload", help="make a running gateway re-read its config and rule packs",
        description="Validate the config, then send SIGHUP to the gateway whose pid file is in the "
                    "state directory. New sessions use the new config; a broken one is refused.")
    reload.add_argument("--config", type=Path, help="the TOML configuration file the gateway runs with")
    reload.set_defaults(func=reload_running)


def _workers_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of workers: {value!r} (an integer or auto)") from None
    if number < 1:
        raise argparse.ArgumentTypeError("--workers must be at least 1")
    return number


class EventLoopUnavailable(RuntimeError):
    """``[server] event_loop = "uvloop"`` and uvloop is not installed."""


def loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, T]], T]:
    """``asyncio.run`` ("asyncio") or uvloop's ("uvloop"; "auto": uvloop where it is installed)."""
    if choice == "asyncio":
        return asyncio.run
    try:
        import uvloop
    except ImportError:
        if choice == "auto":
            return asyncio.run
        raise EventLoopUnavailable("uvloop is not installed (pip install 'seller-mail-gateway[fast]')") from None
    run: Callable[[Coroutine[Any, Any, T]], T] = uvloop.run
    return run


def run_worker(args: argparse.Namespace) -> int:
    from gateway.workers import run_worker as worker_main

    # The worker's configuration arrives over the control channel; so does the loop's choice,
    # too late to pick the loop: the supervisor passes it on the command line.
    try:
        return loop_runner(args.event_loop)(worker_main(args.index, args.control_fd, args.listen))
    except KeyboardInterrupt:
        return 130


def _load(path: Path | None) -> GatewayConfig | None:
    try:
        return load_config(path)
    except ConfigError as exc:
        # Before the config is read its log format is unknown: "auto" (JSON unless on a terminal).
        configure_logging("auto", "info")
        for line in exc.errors:
            refuse(line.partition(":")[0] or "(config)", line, source=exc.source)
        return None


def refuse(key: str, error: str, **context: Any) -> None:
    """One line (a JSON object in production) saying why the gateway does not start, naming the key."""
    get_logger("gateway.serve").error("startup_refused", key=key, error=error, **context)


def deliver_only(args: argparse.Namespace) -> int:
    if args.config_stdin:
        try:
            raw = sys.stdin.buffer.readline() if args.watch_parent else sys.stdin.buffer.read()
            config = GatewayConfig.model_validate_json(raw)
        except ValueError as exc:
            print(f"gateway deliver: bad configuration on stdin: {exc}", file=sys.stderr)
            return 2
    else:
        loaded = _load(args.config)
        if loaded is None:
            return 2
        config = loaded
    configure_logging(config.log.format, config.log.level)
    from gateway.deliverer import run_delivery
    from gateway.delivery import DeliveryAlreadyRunning

    try:
        asyncio.run(run_delivery(config, sys.stdin.buffer if args.watch_parent else None))
    except DeliveryAlreadyRunning as exc:
        print(f"gateway deliver: {exc}", file=sys.stderr)
        return 75  # EX_TEMPFAIL: the supervisor waits longer before the next try
    return 0


def reload_running(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    from gateway.lifecycle import NotServing, running_gateway

    try:
        pid = running_gateway(config.state_dir)
        os.kill(pid, signal.SIGHUP)
    except (NotServing, OSError) as exc:
        print(f"gateway: no running gateway signalled: {exc}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to gateway pid {pid}; its log says whether the reload was taken")
    return 0


def run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    if config is None:
        return 2
    if args.workers is not None:
        config = config.model_copy(update={"server": config.server.model_copy(update={"workers": args.workers})})
    configure_logging(config.log.format, config.log.level)
    from gateway import preflight
    from gateway.bounces.wording import load_bounce_wording
    from gateway.datafiles import DataFilesError

    # What config check finds, as this user; the rule packs load in start() (PolicyLoadError).
    problems = [p for p in preflight.check(config, load=False) if not p.warning]
    if not problems:
        try:
            load_bounce_wording(config.bounces.wording_dir)
        except DataFilesError as exc:
            problems.append(preflight.Problem("bounces.wording_dir", str(exc)))
    if problems:
        for problem in problems:
            refuse(problem.key, problem.message)
        return 2
    return_large_buffers_to_os()
    try:
        runner = loop_runner(config.server.event_loop)
    except EventLoopUnavailable as exc:
        refuse("server.event_loop", str(exc))
        return 2
    try:
        runner(_serve(config, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        refusal = startup_refusal(config, exc)
        if refusal is None:
            raise  # a bug, not the configuration or the machine: the traceback is what helps
        refuse(*refusal)
        return 2
    return 0


async def _serve(config: GatewayConfig, args: argparse.Namespace) -> None:
    from gateway import lifecycle

    if config.server.worker_count > 1:
        from gateway.workers import Supervisor

        await lifecycle.serve(Supervisor(config, config_path=args.config, accept_empty_spool=args.accept_empty_spool,
                                         workers=args.workers))
        return
    from gateway.app import Gateway

    await Gateway(config, config_path=args.config, accept_empty_spool=args.accept_empty_spool).run()


def startup_refusal(config: GatewayConfig, exc: BaseException) -> tuple[str, str] | None:
    """(key, one-line reason) for a failure that the configuration or the machine caused."""
    import sqlite3
    import ssl

    from gateway.auth import CredentialsError
    from gateway.datafiles import DataFilesError
    from gateway.lifecycle import AlreadyServing
    from gateway.policy.loader import PolicyLoadError
    from gateway.preflight import policy_key
    from gateway.spool import SpoolError
    from gateway.store.base import StoreError
    from gateway.store.factory import describe

    state_key = "state.database" if config.state.database else "state.directory"
    if isinstance(exc, StoreError):
        # Unreachable database, a schema that is behind, a damaged gateway.db: systemd's Restart=
        # tries again, which is what an unreachable database needs.
        return state_key, f"state at {describe(config)}: {exc}"
    if isinstance(exc, SpoolError):
        return "state.directory", f"{exc} (see docs/OPERATIONS.md, 'When the gateway refuses to start')"
    if isinstance(exc, AlreadyServing):
        return "state.directory", str(exc)
    from gateway.workers import WorkerStartFailed

    if isinstance(exc, WorkerStartFailed):
        return "server.workers", str(exc)
    if isinstance(exc, PolicyLoadError):
        return policy_key(config, exc.file), str(exc)
    if isinstance(exc, DataFilesError):
        return str(exc).partition(":")[0], str(exc)
    if isinstance(exc, CredentialsError):
        return "auth.credentials_file", str(exc)
    if isinstance(exc, ssl.SSLError):
        return "tls.cert_file", f"TLS: {exc}"
    if isinstance(exc, sqlite3.DatabaseError):
        return state_key, f"state at {describe(config)}: {exc} (restore it from a backup: gateway restore)"
    if isinstance(exc, OSError):
        import errno

        if exc.errno == errno.ENOSPC:
            return "state.directory", f"no space left on the file system of {config.state_dir}: {exc}"
        return _os_error_key(config, exc), _os_error_text(exc)
    return None


def _os_error_key(config: GatewayConfig, exc: OSError) -> str:
    import errno

    from gateway.preflight import path_needs

    if exc.errno in (errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES) and exc.filename is None:
        text = str(exc)
        for key, (host, port) in config.listeners():
            if f"'{host}', {port})" in text or f"{host}:{port}" in text:
                return key
    if exc.filename is not None:
        name = str(exc.filename)
        for need in path_needs(config):
            if name == str(need.path) or name.startswith(str(need.path) + os.sep):
                return need.key
    return "state.directory" if exc.errno == errno.ENOSPC else "environment"


def _os_error_text(exc: OSError) -> str:
    text = str(exc)
    if exc.filename is not None and str(exc.filename) not in text:
        text = f"{exc.filename}: {text}"
    return text
