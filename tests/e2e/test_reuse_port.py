"""Several gateway processes may share one port (SO_REUSEPORT), each with its own spool."""

from __future__ import annotations

from pathlib import Path

import aiosmtplib
import pytest

from gateway import group_commit
from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink


async def test_two_listeners_share_a_port_and_both_take_mail(gateway_factory: GatewayFactory, sink: Sink,
                                                             tmp_path: Path) -> None:
    first = await gateway_factory(server={"reuse_port": True},
                                  state={"directory": str(tmp_path / "one")})
    port = listener_port(first)
    second = await gateway_factory(server={"reuse_port": True, "listen": f"127.0.0.1:{port}"},
                                   state={"directory": str(tmp_path / "two")})
    assert listener_port(second) == port
    total = 30
    for i in range(total):
        await aiosmtplib.send(f"Subject: {i}\r\n\r\nbody\r\n".encode(), sender="a@shop.example",
                              recipients=["b@example.com"], hostname="127.0.0.1", port=port)
    await sink.handler.wait_for(total, timeout=20)
    spooled = []
    for gw in (first, second):
        assert gw.spool is not None
        spooled.append(gw.spool.commits)  # writer commits: 0 until it took a message
    # The kernel spreads connections by a hash of the 4-tuple: with 30 connections both get some.
    assert all(c > 0 for c in spooled), spooled


def _writer_users() -> int:
    """Users of the process's shared SQLite writer (each open store and spool is one)."""
    writer = group_commit._shared
    return writer.users if writer is not None and writer.is_alive() else 0


async def test_port_sharing_is_off_by_default(gateway_factory: GatewayFactory, sink: Sink, tmp_path: Path) -> None:
    first = await gateway_factory(state={"directory": str(tmp_path / "one")})
    users = _writer_users()
    with pytest.raises(OSError, match="in use"):
        await gateway_factory(server={"listen": f"127.0.0.1:{listener_port(first)}"},
                              state={"directory": str(tmp_path / "two")})
    # The failed start closed the store, spool and delivery it had opened before the listener
    # failed (it used to keep them, and the shared writer, for the rest of the process).
    assert _writer_users() == users
    third = await gateway_factory(state={"directory": str(tmp_path / "two")})
    await aiosmtplib.send(b"Subject: after\r\n\r\nbody\r\n", sender="a@shop.example", recipients=["b@example.com"],
                          hostname="127.0.0.1", port=listener_port(third))
    assert [b"\r\nSubject: after\r\n" in m.data for m in await sink.handler.wait_for(1)] == [True]
