"""Reused upstream connections: at most ``pool_size`` per upstream, RSET before every reuse.

A connection is handed out as a :class:`Lease`. A lease whose attempt has stalled can be
*detached*: it stops counting against the pool's size (so another message gets a fresh connection
meanwhile) and its connection is closed when the stalled attempt ends rather than reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

import aiosmtplib
from aiosmtplib import SMTPException, SMTPHeloError

from gateway.config import UpstreamConfig


def build_tls_context(upstream: UpstreamConfig) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH,
                                         cafile=str(upstream.ca_file) if upstream.ca_file else None)
    if not upstream.verify_certificate:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Lease:
    """One connection borrowed from a pool."""

    def __init__(self, pool: UpstreamPool, client: aiosmtplib.SMTP) -> None:
        self.pool = pool
        self.client = client
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
            self.client.close()  # the slot went to another connection meanwhile
            return
        self.pool.give_back(self.client, reusable)


class UpstreamPool:
    """At most ``size`` upstream connections; idle ones are reused after an RSET."""

    def __init__(self, upstream: UpstreamConfig, hostname: str, tls_context: ssl.SSLContext | None,
                 password: str | None, idle_timeout: float) -> None:
        self._upstream = upstream
        self._hostname = hostname
        self._tls_context = tls_context
        self._password = password
        self._idle_timeout = idle_timeout
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
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

    async def _connect(self) -> aiosmtplib.SMTP:
        client = self._new_client()
        await client.connect(timeout=self._upstream.connect_timeout)
        # connect() sends EHLO only when it needs it for STARTTLS or AUTH, and STARTTLS forgets
        # what the server said before. Capabilities (SMTPUTF8, 8BITMIME, SIZE) are read right
        # after this, so make sure they are known on a fresh connection too.
        if client.is_ehlo_or_helo_needed:
            try:
                await client.ehlo()
            except SMTPHeloError:
                await client.helo()  # an SMTP-only server: no extensions
        self.opened += 1
        return client

    async def acquire(self) -> Lease:
        await self._slots.acquire()
        try:
            while self._idle:
                client, since = self._idle.pop()
                if not client.is_connected or time.monotonic() - since > self._idle_timeout:
                    client.close()
                    continue
                try:
                    await client.rset()
                except (SMTPException, OSError):
                    client.close()  # went stale while idle; not this message's problem
                    continue
                return Lease(self, client)
            return Lease(self, await self._connect())
        except BaseException:
            self._slots.release()
            raise

    def slot_freed(self) -> None:
        self._slots.release()

    def give_back(self, client: aiosmtplib.SMTP, reusable: bool) -> None:
        if reusable and client.is_connected:
            self._idle.append((client, time.monotonic()))
        else:
            client.close()
        self._slots.release()

    def reap(self) -> None:
        now = time.monotonic()
        keep = []
        for client, since in self._idle:
            if client.is_connected and now - since <= self._idle_timeout:
                keep.append((client, since))
            else:
                client.close()
        self._idle = keep

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _ in idle:
            with contextlib.suppress(SMTPException, OSError, TimeoutError):
                async with asyncio.timeout(2.0):
                    await client.quit()
            client.close()
