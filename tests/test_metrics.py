"""The metrics a real gateway exposes for its listener and its process (issue 15 item 9).

Sessions, AUTH failures, relays denied and failed TLS handshakes (STARTTLS and the implicit-TLS
port) are driven over loopback against the real listener; process_* and gateway_build_info come
from the same registry the admin server's /metrics renders.
"""

from __future__ import annotations

import asyncio
import gc
import re
from pathlib import Path

import aiosmtplib
import pytest

import gateway
from gateway.app import Gateway
from tests.conftest import GatewayFactory, listener_port, start_tls_gateway
from tests.smtpclient import RawSMTP
from tests.tlsutil import CertPair


@pytest.fixture
async def tls_gateway(gateway_factory: GatewayFactory, cert: CertPair, tmp_path: Path) -> Gateway:
    return await start_tls_gateway(gateway_factory, cert, tmp_path, max_failures=10)


async def scrape(gw: Gateway) -> str:
    return (await asyncio.to_thread(gw.metrics.render)).decode()


def value(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


async def test_listener_events_are_counted(tls_gateway: Gateway, cert: CertPair) -> None:
    port = listener_port(tls_gateway)
    # Relay denied: a plaintext session from outside allowed_networks, no AUTH.
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    await client.cmd("MAIL FROM:<erp@shop.example>")
    code, _ = await client.cmd("RCPT TO:<buyer@example.com>")
    assert code == 554
    await client.close()
    # AUTH failure after STARTTLS.
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True, tls_context=cert.client_context())
    await smtp.connect()
    await smtp.ehlo()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await smtp.auth_plain("erp", "wrong")
    await smtp.quit()
    # A STARTTLS handshake that fails: plaintext garbage instead of a ClientHello.
    client, _ = await RawSMTP.connect(port)
    await client.cmd("EHLO client.test")
    code, _ = await client.cmd("STARTTLS")
    assert code == 220
    await client.send(b"this is not TLS\r\n" * 20)
    await asyncio.wait_for(client.reader.read(), 10)  # the gateway hangs up
    await client.close()
    # The same on the implicit-TLS port.
    assert tls_gateway.listener is not None and tls_gateway.listener.implicit_tls_port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", tls_gateway.listener.implicit_tls_port)
    writer.write(b"EHLO plaintext.test\r\n" * 20)
    await writer.drain()
    await asyncio.wait_for(reader.read(), 10)
    writer.close()

    text = ""
    async with asyncio.timeout(10):
        while value(text, 'gateway_tls_handshake_failures_total{mode="implicit"}') < 1:
            gc.collect()
            await asyncio.sleep(0.1)
            text = await scrape(tls_gateway)
    assert value(text, "gateway_relay_denied_total") == 1
    assert value(text, "gateway_auth_failures_total") == 1
    assert value(text, 'gateway_tls_handshake_failures_total{mode="starttls"}') == 1
    assert value(text, 'gateway_tls_handshake_failures_total{mode="implicit"}') == 1
    assert value(text, "gateway_smtp_sessions_total") == 3  # the implicit one never became a session


async def test_process_metrics_and_build_info(tls_gateway: Gateway) -> None:
    text = await scrape(tls_gateway)
    assert value(text, "process_resident_memory_bytes") > 1_000_000
    assert value(text, "process_open_fds") > 0
    assert "process_cpu_seconds_total" in text
    info = re.search(r'^gateway_build_info\{([^}]*)\} 1\.0$', text, re.MULTILINE)
    assert info is not None and f'version="{gateway.__version__}"' in info.group(1)
