"""Fault injection: kill -9 the gateway while clients send; every 250 must still be delivered.

The gateway runs as a real process (`python -m gateway serve`), clients send concurrently, and the
process is killed without warning part-way. After a restart the sink must hold every message that
got a 250, and (since the upstream was up and fast) duplicates are only possible for messages that
were on the wire to the upstream at the moment of the kill.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiosmtplib
import pytest

from tests.conftest import wait_until
from tests.procutil import free_port, start_gateway, wait_listening
from tests.sink import Sink

pytestmark = pytest.mark.slow


async def run_crash_round(tmp_path: Path, sink: Sink, clients: int, per_client: int) -> dict[str, int]:
    port = free_port()
    config = tmp_path / "gateway.toml"
    config.write_text(
        f'[server]\nlisten = "127.0.0.1:{port}"\n'
        f'[state]\ndirectory = "{tmp_path / "state"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink.port}\ntls = "none"\n'
        '[policy]\nenabled = false\n'  # durability is the subject here, not rules
        '[delivery]\nretry_initial = 0.2\nretry_max = 0.5\npoll_interval = 0.1\n'
        '[admin]\nlisten = "127.0.0.1:0"\n'  # never the default 8025 another gateway may hold
        '[log]\nformat = "json"\nlevel = "error"\n')
    proc = start_gateway(config)
    await wait_listening(port)
    acknowledged: set[str] = set()
    sent = asyncio.Event()
    errors: list[str] = []

    async def client(c: int) -> None:
        for i in range(per_client):
            mid = f"<crash-{c}-{i}@test>"
            data = (f"From: a@shop.example\r\nTo: b@example.com\r\nMessage-ID: {mid}\r\n"
                    f"Subject: crash test\r\n\r\n" + ("x" * 78 + "\r\n") * 25).encode()
            try:
                await aiosmtplib.send(data, sender="a@shop.example", recipients=["b@example.com"],
                                      hostname="127.0.0.1", port=port, timeout=5)
            except (aiosmtplib.SMTPException, OSError) as exc:
                errors.append(repr(exc))
                return  # the gateway is gone: this message was not acknowledged
            acknowledged.add(mid)
            if len(acknowledged) >= clients * per_client // 3:
                sent.set()

    tasks = [asyncio.create_task(client(c)) for c in range(clients)]
    done = asyncio.ensure_future(asyncio.gather(*tasks))
    await asyncio.wait([asyncio.ensure_future(sent.wait()), done], timeout=60,
                       return_when=asyncio.FIRST_COMPLETED)
    assert sent.is_set(), f"only {len(acknowledged)} acknowledged before the kill; errors: {errors[:3]}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    await asyncio.gather(*tasks)

    proc = start_gateway(config)
    try:
        await wait_listening(port)

        def delivered_ids() -> list[str]:
            ids = []
            for m in sink.messages:
                for line in m.data.split(b"\r\n"):
                    if line.startswith(b"Message-ID: "):
                        ids.append(line[12:].decode())
            return ids

        await wait_until(lambda: acknowledged <= set(delivered_ids()), timeout=30)
        await asyncio.sleep(0.5)  # let any late duplicate arrive before counting
        ids = delivered_ids()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return {"acknowledged": len(acknowledged),
            "lost": len(acknowledged - set(ids)),
            "duplicated": len(ids) - len(set(ids))}


async def test_kill_9_loses_no_acknowledged_message(tmp_path: Path, sink: Sink) -> None:
    result = await run_crash_round(tmp_path, sink, clients=8, per_client=40)
    print(f"kill -9 round: {result}")
    assert result["acknowledged"] > 0
    assert result["lost"] == 0
    # Only a message between the upstream's 250 and the spool's mark can come twice;
    # at most one per delivery worker.
    assert result["duplicated"] <= 4
