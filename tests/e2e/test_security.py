"""Security end to end, beyond test_listener.py and test_tls_auth.py: secrets never reach the logs
(client AUTH and upstream AUTH, right and wrong passwords, at debug level), and PROXY headers from
untrusted peers or missing ones from trusted proxies never open the relay."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
import structlog
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from gateway.app import Gateway
from gateway.auth import hash_password
from gateway.log import configure_logging
from tests.conftest import GatewayFactory, listener_port, make_config, wait_until
from tests.sink import RecordingHandler, Sink
from tests.smtpclient import RawSMTP
from tests.tlsutil import make_self_signed

CLIENT_SECRET = "client-Pa55word-7731"
UPSTREAM_SECRET = "upstream-Pa55word-4410"
WRONG_SECRET = "wrong-Pa55word-0099"


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """The gateway logging as it would in production (JSON) but at debug level, plus every stdlib
    record of any library at any level (in the yielded buffer). The gateway's own lines go to
    stderr, which the test reads with ``capfd``.

    (Patching ``sys.stderr`` here does not work: pytest's capture puts its own ``sys.stderr`` back
    between a test's setup and its call, and the gateway looks ``sys.stderr`` up at each line, so a
    fixture's stream only saw what was logged during set-up.)"""
    buffer = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.handlers = []
    configure_logging("json", "debug")
    # Also catch stdlib records from any library, whatever level the gateway set for them.
    catch_all = logging.StreamHandler(buffer)
    catch_all.setLevel(logging.DEBUG)
    root.addHandler(catch_all)
    yield buffer
    structlog.reset_defaults()
    root.handlers = handlers
    root.setLevel(level)


def secret_forms(secret: str, user: str) -> list[str]:
    forms = [secret, base64.b64encode(secret.encode()).decode()]
    for plain in (f"\0{user}\0{secret}", f"{user}\0{user}\0{secret}"):
        forms.append(base64.b64encode(plain.encode()).decode())
    return forms


async def test_passwords_never_logged(captured_logs: io.StringIO, capfd: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    certs = make_self_signed(tmp_path / "tls")
    upstream_logins: list[bool] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == UPSTREAM_SECRET.encode()
        upstream_logins.append(ok)
        return AuthResult(success=ok)

    def factory(handler: RecordingHandler) -> SMTP:
        return SMTP(handler, hostname="sink.test", tls_context=certs.server_context(),
                    require_starttls=True, authenticator=authenticator, auth_required=True,
                    auth_require_tls=True)

    sink = await Sink(factory).start()
    users = tmp_path / "users"
    users.write_text(f"erp:{hash_password(CLIENT_SECRET)}\n")
    password_file = tmp_path / "upstream.pw"
    password_file.write_text(UPSTREAM_SECRET + "\n")
    config = make_config(
        tmp_path, sink.port,
        server={"allowed_networks": ["192.0.2.0/24"]},
        tls={"cert_file": str(certs.cert_file), "key_file": str(certs.key_file)},
        auth={"credentials_file": str(users)},
        upstream={"tls": "starttls", "ca_file": str(certs.cert_file), "username": "relay",
                  "password_file": str(password_file)},
        log={"level": "debug"})
    gw = Gateway(config, policy=None)
    await gw.start()
    try:
        port = listener_port(gw)
        # A wrong password (PLAIN and LOGIN), then the right one, then a relayed message.
        for method in ("auth_plain", "auth_login"):
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                                     tls_context=certs.client_context())
            await client.connect()
            await client.ehlo()
            with pytest.raises(aiosmtplib.SMTPAuthenticationError):
                await getattr(client, method)("erp", WRONG_SECRET)
            await client.quit()
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=True,
                                 tls_context=certs.client_context())
        await client.connect()
        await client.login("erp", CLIENT_SECRET)
        await client.sendmail("erp@shop.example", ["buyer@example.com"],
                              b"Subject: hi\r\n\r\nhello\r\n")
        await client.quit()
        await sink.handler.wait_for(1)
        assert upstream_logins == [True]
    finally:
        await gw.stop(grace=2.0)
    # And a gateway whose upstream password is wrong: the failure is logged, the password is not.
    password_file.write_text(WRONG_SECRET + "\n")
    gw = Gateway(config, policy=None)
    await gw.start()
    try:
        assert gw.spool is not None and gw.delivery is not None
        await gw.spool.put("erp@shop.example", ["buyer@example.com"], b"Subject: again\r\n\r\nx\r\n")
        gw.delivery.notify()
        await wait_until(lambda: False in upstream_logins)
    finally:
        await gw.stop(grace=2.0)
        await sink.stop()
    out = capfd.readouterr()
    logs = captured_logs.getvalue() + out.err + out.out
    assert "auth_ok" in logs and "auth_failed" in logs and "delivery.attempt" in logs  # it did log
    for secret, user in ((CLIENT_SECRET, "erp"), (WRONG_SECRET, "erp"), (UPSTREAM_SECRET, "relay"),
                         (WRONG_SECRET, "relay")):
        for form in secret_forms(secret, user):
            assert form not in logs, f"secret in the logs as {form!r}"


async def test_proxy_v2_header_from_untrusted_peer_opens_nothing(gateway_factory: GatewayFactory,
                                                                 sink: Sink) -> None:
    gw = await gateway_factory(server={"allowed_networks": ["192.0.2.0/24"]})
    # PROXY v2: signature, PROXY command over TCP4, 12 address bytes claiming 192.0.2.10.
    v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + b"\x21\x11\x00\x0c" + bytes([192, 0, 2, 10, 127, 0, 0, 1])
          + (40000).to_bytes(2, "big") + (25).to_bytes(2, "big"))
    code = 0
    try:
        client, _ = await RawSMTP.connect(listener_port(gw), prefix=v2)
        await client.cmd("EHLO client.test")
        await client.cmd("MAIL FROM:<seller@shop.example>")
        code, _ = await client.cmd("RCPT TO:<buyer@example.com>")
        await client.close()
    except ConnectionError:
        pass  # dropped: nothing relayed
    assert code != 250
    assert sink.messages == []


async def test_trusted_proxy_without_header_cannot_relay(gateway_factory: GatewayFactory, sink: Sink) -> None:
    # The proxy's own address is even in allowed_networks: a missing header must not fall back to it.
    gw = await gateway_factory(server={"trusted_proxies": ["127.0.0.1/32"], "proxy_protocol_timeout": 0.5})
    code = 0
    try:
        client, greeting = await RawSMTP.connect(listener_port(gw))
        code = greeting[0]
        if code == 220:
            code, _ = await client.cmd("EHLO client.test")
            if code == 250:
                await client.cmd("MAIL FROM:<seller@shop.example>")
                code, _ = await client.cmd("RCPT TO:<buyer@example.com>")
        await client.close()
    except ConnectionError:
        pass
    assert code != 250
    assert sink.messages == []
