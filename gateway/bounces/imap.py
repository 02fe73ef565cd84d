"""Poll an IMAP mailbox for bounce-backs: the seller's "Buyer Opt-Out" notification address.

The stdlib ``imaplib`` client, each network step in a worker thread (it blocks), one session per
poll. A message is moved to ``processed_folder`` (or flagged) only after it is recorded, so a crash
between the two leaves it in place and the next poll sees it again; the registry recognises the
bytes and records it once. A message whose ingest fails is left untouched for the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import ssl
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.bounces.batch import ImportSummary
from gateway.bounces.ingest import BounceIngestService
from gateway.config import ImapConfig
from gateway.log import get_logger
from gateway.store.base import StoreError

log = get_logger("gateway.bounces.imap")

T = TypeVar("T")

_SYSTEM_FLAG_SEARCH = {"\\seen": "UNSEEN", "\\flagged": "UNFLAGGED", "\\answered": "UNANSWERED"}


class ImapError(Exception):
    """The mailbox could not be polled (connection, login, folder)."""


def quote_mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _call(what: str, fn: Callable[..., tuple[str, Any]], *args: Any) -> Any:
    """Run one IMAP command; any refusal or connection problem becomes an ImapError naming it."""
    try:
        result = fn(*args)
    except (imaplib.IMAP4.error, OSError) as exc:
        raise ImapError(f"{what}: {exc}") from exc
    return _check(what, result)


def _check(what: str, result: tuple[str, Any]) -> Any:
    typ, data = result
    if typ != "OK":
        detail = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise ImapError(f"{what}: {typ} {detail}".strip())
    return data


class ImapSession:
    """One logged-in session with the folder selected. Blocking: call from a worker thread."""

    def __init__(self, config: ImapConfig) -> None:
        self.config = config
        self.conn = self._connect()
        self.capabilities: set[str] = set()
        try:
            _call("login", self.conn.login, config.username, config.resolved_password())
            # Servers announce more after login (MOVE, UIDPLUS); imaplib keeps the greeting's list.
            data = _call("capability", self.conn.capability)
            self.capabilities = {c.upper() for c in (data[0] or b"").decode("ascii", "replace").split()}
            if config.processed_action == "move":
                self._ensure_folder(config.processed_folder)
            _call(f"select {config.folder}", self.conn.select, quote_mailbox(config.folder))
        except BaseException:
            self.close()
            raise

    def _tls_context(self) -> ssl.SSLContext:
        cfg = self.config
        context = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
        if not cfg.verify_certificate:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> imaplib.IMAP4:
        cfg = self.config
        try:
            if cfg.tls == "implicit":
                return imaplib.IMAP4_SSL(cfg.host, cfg.effective_port, ssl_context=self._tls_context(),
                                         timeout=cfg.timeout)
            conn = imaplib.IMAP4(cfg.host, cfg.effective_port, timeout=cfg.timeout)
            if cfg.tls == "starttls":
                try:
                    _call("starttls", lambda: conn.starttls(ssl_context=self._tls_context()))
                except ImapError:
                    conn.shutdown()
                    raise
            return conn
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ImapError(f"connect {cfg.host}:{cfg.effective_port}: {exc}") from exc

    def _ensure_folder(self, name: str) -> None:
        try:
            typ, data = self.conn.list('""', quote_mailbox(name))
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(f"list {name}: {exc}") from exc
        if typ == "OK" and any(d for d in data if d):
            return
        _call(f"create {name}", self.conn.create, quote_mailbox(name))

    def pending_uids(self) -> list[str]:
        cfg = self.config
        criteria = ["UNDELETED"]
        if cfg.processed_action == "flag":
            flag = cfg.processed_flag
            criteria.append(_SYSTEM_FLAG_SEARCH.get(flag.lower(), f"UNKEYWORD {flag}"))
        data = _call("search", self.conn.uid, "SEARCH", *criteria)
        return [uid.decode() for uid in (data[0] or b"").split() if uid.isdigit()]

    def fetch(self, uid: str) -> bytes | None:
        # BODY.PEEK: reading a notice must not mark it \Seen for the humans sharing the mailbox.
        data = _call(f"fetch {uid}", self.conn.uid, "FETCH", uid, "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return None

    def mark_processed(self, uid: str) -> None:
        cfg = self.config
        if cfg.processed_action == "flag":
            _call(f"flag {uid}", self.conn.uid, "STORE", uid, "+FLAGS", f"({cfg.processed_flag})")
            return
        target = quote_mailbox(cfg.processed_folder)
        if "MOVE" in self.capabilities:
            _call(f"move {uid}", self.conn.uid, "MOVE", uid, target)
            return
        _call(f"copy {uid}", self.conn.uid, "COPY", uid, target)
        _call(f"delete {uid}", self.conn.uid, "STORE", uid, "+FLAGS", "(\\Deleted)")
        if "UIDPLUS" in self.capabilities:
            _call(f"expunge {uid}", self.conn.uid, "EXPUNGE", uid)
        else:
            _call("expunge", self.conn.expunge)

    def close(self) -> None:
        """Log out; the socket is closed even when the server has gone away meanwhile."""
        if self.conn.state == "SELECTED":
            with contextlib.suppress(OSError, imaplib.IMAP4.error):
                self.conn.close()
        try:
            self.conn.logout()  # shuts the socket down whatever the server answers
        except (OSError, imaplib.IMAP4.error):
            with contextlib.suppress(OSError):
                self.conn.shutdown()


def _close_later(session: ImapSession) -> None:
    """Log out from a worker thread (from a callback on the event loop, which must not block)."""
    try:
        asyncio.get_running_loop().run_in_executor(None, session.close)
    except RuntimeError:  # no loop or its executor is shut down: closing is quick enough here
        session.close()


class ImapPoller:
    def __init__(self, config: ImapConfig, service: BounceIngestService) -> None:
        self.config = config
        self.service = service
        self._stop = asyncio.Event()
        self.polls = 0
        self.skipped = 0

    @property
    def source(self) -> str:
        cfg = self.config
        return f"imap:{cfg.username}@{cfg.host}:{cfg.effective_port}/{cfg.folder}"

    async def poll_once(self) -> ImportSummary:
        """Ingest what is waiting in the folder; raises ImapError when the mailbox is unreachable."""
        counts = ImportSummary()
        session = await self._opened()
        abandoned = False

        async def blocking(fn: Callable[..., T], *args: Any) -> T:
            # A step cannot be interrupted inside its thread. If the poll is cancelled meanwhile
            # (shutdown after the grace period), the step finishes and then the session logs out
            # from a worker thread, so the socket is never left open.
            nonlocal abandoned
            step = asyncio.get_running_loop().run_in_executor(None, fn, *args)
            try:
                return await asyncio.shield(step)
            except asyncio.CancelledError:
                abandoned = True
                step.add_done_callback(lambda _f: _close_later(session))
                raise

        try:
            uids = await blocking(session.pending_uids)
            for uid in uids[: self.config.max_messages_per_poll]:
                if self._stop.is_set():
                    break
                raw = await blocking(session.fetch, uid)
                if raw is None:
                    continue
                try:
                    result = await self.service.ingest_result(raw, f"{self.source};uid={uid}",
                                                              self.config.tenant)
                except Exception:
                    counts.failed += 1
                    log.exception("imap_ingest_failed", source=self.source, uid=uid)
                    continue
                counts.add(result)
                await blocking(session.mark_processed, uid)
        finally:
            if not abandoned:
                await asyncio.to_thread(session.close)
            self.polls += 1
        if counts.parsed or counts.not_bounce or counts.failed:
            log.info("imap_polled", source=self.source, **counts.as_json())
        return counts

    async def _opened(self) -> ImapSession:
        opening = asyncio.get_running_loop().run_in_executor(None, ImapSession, self.config)
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(
                lambda f: None if f.cancelled() or f.exception() is not None else _close_later(f.result()))
            raise

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                # Instances sharing a database poll a mailbox one at a time: the others skip the
                # round instead of racing to fetch and move the same messages.
                async with self.service.store.exclusive(f"imap-poll:{self.source}") as mine:
                    if mine:
                        await self.poll_once()
                    else:
                        self.skipped += 1
                        log.debug("imap_poll_skipped", source=self.source, reason="polled by another instance")
            except (ImapError, OSError, imaplib.IMAP4.error, StoreError) as exc:
                # The mailbox (or the database) being down is an operational problem, not a
                # reason to stop polling.
                log.error("imap_poll_failed", source=self.source, error=str(exc))
            try:
                async with asyncio.timeout(self.config.poll_interval):
                    await self._stop.wait()
            except TimeoutError:
                pass

    def stop(self) -> None:
        """Ask ``run`` to finish after the message in hand."""
        self._stop.set()
