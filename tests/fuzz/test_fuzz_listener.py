"""Hostile DATA through a real gateway with all rule packs: whatever arrives, the client hears a
2xx, 4xx or 5xx reply with an enhanced status code and a reason, within the configured timeouts;
with and without SMTPUTF8 and 8BITMIME, including 8-bit and invalid UTF-8 where neither was asked."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.app import Gateway
from tests.conftest import make_config
from tests.fuzz.harness import RECIPIENTS, engine
from tests.fuzz.mimegen import messages

pytestmark = pytest.mark.slow

_REPLY = re.compile(r"^(2\d\d [245]\.\d{1,3}\.\d{1,3} .+|[45]\d\d [45]\.\d{1,3}\.\d{1,3} .+)$")


class GatewayThread:
    """A gateway on its own event loop in a thread, so hypothesis can drive it synchronously."""

    def __init__(self, tmp_path: Path) -> None:
        # No upstream (Maildir outbox): delivery stays local and cheap.
        self.config = make_config(tmp_path, None, server={"data_timeout": 20, "command_timeout": 30},
                                  policy={"evaluation_timeout": 10})
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.gateway = Gateway(self.config, policy=engine())

    def __enter__(self) -> GatewayThread:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.gateway.start(), self.loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.gateway.stop(grace=2.0), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def port(self) -> int:
        assert self.gateway.listener is not None
        return self.gateway.listener.port


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(tmp_path_factory.mktemp("fuzz-listener")) as gw:
        yield gw


def reply(sock: socket.socket) -> str:
    lines = []
    buf = b""
    while True:
        while b"\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return "\n".join(lines) or "000 closed"
            buf += chunk
        line, buf = buf.split(b"\r\n", 1)
        text = line.decode("utf-8", "replace")
        lines.append(text)
        if len(text) < 4 or text[3] != "-":
            return text


def transact(port: int, raw: bytes, mail_params: str, rcpt: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=40) as sock:
        assert reply(sock).startswith("220")
        for command in ("EHLO fuzz.test", f"MAIL FROM:<seller@shop.example>{mail_params}", f"RCPT TO:<{rcpt}>",
                        "DATA"):
            sock.sendall(command.encode() + b"\r\n")
            answer = reply(sock)
            if command == "DATA":
                assert answer.startswith("354"), answer
            else:
                assert answer.startswith("250"), (command, answer)
        stuffed = raw.replace(b"\r\n.", b"\r\n..")
        if stuffed.startswith(b"."):
            stuffed = b"." + stuffed
        if not stuffed.endswith(b"\r\n"):
            stuffed += b"\r\n"
        sock.sendall(stuffed + b".\r\n")
        answer = reply(sock)
        sock.sendall(b"QUIT\r\n")
        return answer


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(raw=messages(), params=st.sampled_from(["", " BODY=8BITMIME", " SMTPUTF8", " BODY=8BITMIME SMTPUTF8"]),
       rcpt=st.sampled_from(RECIPIENTS))
def test_any_data_gets_a_reasoned_reply(running: GatewayThread, raw: bytes, params: str, rcpt: str) -> None:
    answer = transact(running.port, raw, params, rcpt)
    last = answer.splitlines()[-1]
    assert _REPLY.match(last), answer
    assert not last.startswith("421"), answer  # never a dropped session


def test_invalid_utf8_address_with_smtputf8_is_refused_with_a_reason(running: GatewayThread) -> None:
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        reply(sock)
        sock.sendall(b"EHLO fuzz.test\r\n")
        reply(sock)
        sock.sendall(b"MAIL FROM:<sel\xffler@shop.example> SMTPUTF8\r\n")
        answer = reply(sock)
        assert re.match(r"^[45]\d\d [45]\.\d{1,3}\.\d{1,3} .+", answer), answer
