"""Reused upstream connections: at most ``pool_size`` per upstream.

aiosmtplib opens a connection (greeting, EHLO, STARTTLS, AUTH); its transactions then run on an
:class:`~gateway.delivery.wire.UpstreamConnection` (pipelined where the upstream offers it, RSET
only after a transaction that did not end cleanly).

A connection is handed out as a :class:`Lease`. A lease whose attempt has stalled can be
*detached*: it stops counting against the pool's size (so another message gets a fresh connection
meanwhile) and its connection is closed when the stalled attempt ends rather than reused.
"""

from __future__ import annotations

import asyncio
import ssl
import time

import aiosmtplib
from aiosmtplib import SMTPHeloError, SMTPServerDisconnected

from gateway.config import UpstreamConfig
from gateway.delivery.wire import UpstreamConnection


def build_tls_context(upstream: UpstreamConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(upstream.ca_file) if upstream.ca_file else None)
    if not upstream.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Lease:
    """One connection borrowed from a pool."""

    def __init__(self, pool: UpstreamPool, conn: UpstreamConnection, reused: bool) -> None:
        self.pool = pool
        self.conn = conn
        self.reused = reused
        """The connection carried an earlier transaction (and may have died while idle)."""
        self.detached = False
        self._returned = False

    def detach(self) -> None:
        """Give the pool slot back now; the connection stays with the (stalled) attempt."""
        if not self.detached and not self._returned:
            self.detached = True
            self.pool.slot_freed()

    def release(self, reusable: bool) -> None:
        if self._returned:
            return
        self._returned = True
        if self.detached:
            self.conn.close()  # the slot went to another connection meanwhile
            return
        self.pool.give_back(self.conn, reusable)


class UpstreamPool:
    """At most ``size`` upstream connections; idle ones are reused."""

    def __init__(self, upstream: UpstreamConfig, hostname: str, tls_context: ssl.SSLContext | None,
                 password: str | None, idle_timeout: float) -> None:
        self._upstream = upstream
        self._hostname = hostname
        self._tls_context = tls_context
        self._password = password
        self._idle_timeout = idle_timeout
        self._idle: list[tuple[UpstreamConnection, float]] = []
        self._slots = asyncio.Semaphore(upstream.pool_size)
        self.opened = 0

    def _new_client(self) -> aiosmtplib.SMTP:
        up = self._upstream
        start_tls: bool | None = {"none": False, "opportunistic": None, "starttls": True,
                                  "implicit": False}[up.tls]
        assert up.host is not None
        return aiosmtplib.SMTP(
            hostname=up.host, port=up.port, local_hostname=up.helo_name or self._hostname,
            timeout=up.command_timeout, use_tls=up.tls == "implicit", start_tls=start_tls,
            tls_context=self._tls_context if up.tls != "none" else None,
            username=up.username, password=self._password)

    async def _connect(self) -> UpstreamConnection:
        client = self._new_client()
        await client.connect(timeout=self._upstream.connect_timeout)
        try:
            # connect() sends EHLO only when it needs it for STARTTLS or AUTH, and STARTTLS
            # forgets what the server said before. Capabilities (PIPELINING, SMTPUTF8, 8BITMIME,
            # SIZE) are read right after this, so make sure they are known on a fresh connection.
            if client.is_ehlo_or_helo_needed:
                try:
                    await client.ehlo()
                except SMTPHeloError:
                    await client.helo()  # an SMTP-only server: no extensions
            if client.transport is None:
                raise SMTPServerDisconnected("Connection lost")
        except BaseException:
            client.close()
            raise
        self.opened += 1
        return UpstreamConnection.take_over(client.transport, client.esmtp_extensions)

    async def acquire(self, fresh: bool = False) -> Lease:
        """An idle connection (unless ``fresh``) or a new one; waits while ``size`` are in use."""
        await self._slots.acquire()
        try:
            while self._idle and not fresh:
                conn, since = self._idle.pop()
                if not conn.is_connected or time.monotonic() - since > self._idle_timeout:
                    conn.close()
                    continue
                return Lease(self, conn, reused=True)
            return Lease(self, await self._connect(), reused=False)
        except BaseException:
            self._slots.release()
            raise

    def slot_freed(self) -> None:
        self._slots.release()

    def give_back(self, conn: UpstreamConnection, reusable: bool) -> None:
        if reusable and conn.is_connected:
            self._idle.append((conn, time.monotonic()))
        else:
            conn.close()
        self._slots.release()

    def reap(self) -> None:
        now = time.monotonic()
        keep = []
        for conn, since in self._idle:
            if conn.is_connected and now - since <= self._idle_timeout:
                keep.append((conn, since))
            else:
                conn.close()
        self._idle = keep

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.quit(timeout=2.0)
