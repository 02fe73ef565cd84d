"""Disk full: new mail gets 452 4.3.1, and nothing acknowledged before is lost."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import GatewayFactory, listener_port
from tests.sink import Sink
from tests.smtpclient import RawSMTP


async def test_disk_full_answers_452_and_keeps_acknowledged_mail(
        gateway_factory: GatewayFactory, sink: Sink, small_fs: Path) -> None:
    sink.behaviour.data_reply = "451 4.3.0 upstream busy"  # keep everything in the spool for now
    gw = await gateway_factory(state={"directory": str(small_fs / "state")})
    body = (b"Z" * 70 + b"\r\n") * 900  # about 64 KB
    client, _ = await RawSMTP.connect(listener_port(gw))
    await client.cmd("EHLO client.test")
    acknowledged = 0
    last = (0, "")
    for i in range(40):
        await client.cmd("MAIL FROM:<seller@shop.example>")
        await client.cmd("RCPT TO:<buyer@example.com>")
        assert (await client.cmd("DATA"))[0] == 354
        last = await client.cmd(f"Subject: fill {i}\r\n\r\n".encode() + body + b".")
        if last[0] != 250:
            break
        acknowledged += 1
    assert acknowledged > 0
    assert last[0] == 452, last
    assert "4.3.1" in last[1]
    await client.cmd("QUIT")
    await client.close()
    # The upstream recovers: exactly the acknowledged messages arrive, once each.
    sink.behaviour.data_reply = None
    assert gw.delivery is not None
    gw.delivery.notify()
    received = await sink.handler.wait_for(acknowledged, timeout=30)
    subjects = sorted(m.data.split(b"\r\n", 1)[0] for m in received)
    assert len(subjects) == len(set(subjects)) == acknowledged

