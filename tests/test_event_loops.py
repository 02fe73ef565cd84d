"""Sessions under both event loops ``[server] event_loop`` offers: the standard one and uvloop.

uvloop orders a new connection's callbacks differently from asyncio: a client that connects and
closes at once (a port probe, a health check) can have its EOF delivered before aiosmtpd's
command loop has run a single step. The session must still end and stop counting against
``max_sessions`` (gateway/session.py: ``GatewaySMTP._session_over``)."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.app import Gateway
from tests.conftest import make_config
from tests.sink import Sink


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    if name == "uvloop":
        uvloop = pytest.importorskip("uvloop")
        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.new_event_loop


async def _probe(port: int, kind: str) -> None:
    if kind == "quit":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await reader.readline()).startswith(b"220 ")
        writer.write(b"QUIT\r\n")
        await writer.drain()
        assert (await reader.readline()).startswith(b"221 ")
        writer.close()
        return
    sock = socket.socket()
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    if kind == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


async def _sessions_end(tmp_path: Path, loop_name: str) -> None:
    sink = await Sink().start()
    gw = Gateway(make_config(tmp_path, sink.port, server={"max_sessions": 5}))
    await gw.start()
    try:
        assert gw.listener is not None
        port = gw.listener.port
        for kind in ("close", "reset", "quit"):
            for _ in range(12):  # more than max_sessions: a leak would refuse the rest with 421
                await _probe(port, kind)
            async with asyncio.timeout(10):
                while gw.listener.active_sessions or gw.listener.sessions:
                    await asyncio.sleep(0.02)
        # And a whole message still goes through on this loop.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        replies = []
        for line in (b"EHLO client.test", b"MAIL FROM:<seller@shop.example>", b"RCPT TO:<buyer@example.com>",
                     b"DATA"):
            if not replies:
                replies.append(await reader.readline())
            writer.write(line + b"\r\n")
            while True:
                reply = await reader.readline()
                if reply[3:4] != b"-":
                    break
            replies.append(reply)
        writer.write(f"Subject: on {loop_name}\r\n\r\nhello\r\n.\r\n".encode())
        replies.append(await reader.readline())
        assert [r[:3] for r in replies] == [b"220", b"250", b"250", b"250", b"354", b"250"], replies
        writer.close()
        async with asyncio.timeout(10):
            while not sink.messages:
                await asyncio.sleep(0.02)
        assert b"Subject: on " + loop_name.encode() in sink.messages[0].data
    finally:
        await gw.stop(grace=2.0)
        await sink.stop()


@pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])
def test_sessions_closed_at_once_end_on_both_loops(tmp_path: Path, loop_name: str) -> None:
    with asyncio.Runner(loop_factory=_loop_factory(loop_name)) as runner:
        runner.run(_sessions_end(tmp_path, loop_name))
