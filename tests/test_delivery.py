"""Delivery against a real recording aiosmtpd upstream on loopback, with the real SQLite spool."""

from __future__ import annotations

import asyncio
import mailbox
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from structlog.testing import capture_logs

from gateway.config import DeliveryConfig, UpstreamConfig
from gateway.delivery import DeliveryAlreadyRunning, DeliveryService
from gateway.spool import Spool
from tests.sink import RecordingHandler, Sink
from tests.tlsutil import CertPair, make_self_signed

SENDER = "seller@shop.example"
BUYER = "buyer@marketplace.example"
REPO = Path(__file__).resolve().parent.parent
NULL_SENDER = "<>"  # how aiosmtpd records MAIL FROM:<>


def message(subject: str = "Order 1", body: str = "Hello") -> bytes:
    return (f"From: Shop <{SENDER}>\r\nTo: <{BUYER}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@shop.example>\r\n\r\n{body}\r\n"
            ".leading dot line\r\n").encode()


def fast_delivery(**overrides: Any) -> DeliveryConfig:
    values: dict[str, Any] = {"workers": 2, "retry_initial": 0.05, "retry_max": 0.2,
                              "give_up_after": 60.0, "poll_interval": 0.05}
    values.update(overrides)
    return DeliveryConfig(**values)


def upstream_for(sink: Sink, **overrides: Any) -> UpstreamConfig:
    values: dict[str, Any] = {"host": "127.0.0.1", "port": sink.port, "tls": "none",
                              "connect_timeout": 2.0, "command_timeout": 2.0, "pool_size": 2,
                              "helo_name": "gw.test"}
    values.update(overrides)
    return UpstreamConfig(**values)


async def wait_until(predicate: Callable[[], Any], limit: float = 5.0) -> None:
    """Poll a (sync or async) predicate: the spool is observed from outside, as an operator would."""
    async with asyncio.timeout(limit):
        while not await _maybe_await(predicate()):
            await asyncio.sleep(0.02)


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value):
        return await value
    return value


async def drained(spool: Spool) -> bool:
    return await spool.depth() == 0


async def attempts(spool: Spool, queue_id: str) -> int:
    info = await spool.info(queue_id)
    assert info is not None
    return info.attempts


@pytest.fixture(params=["lockstep", "pipelining"])
async def sink(request: pytest.FixtureRequest) -> AsyncIterator[Sink]:
    # Every test runs against an upstream without and with PIPELINING (gateway/delivery/wire.py).
    s = await Sink(pipelining=request.param == "pipelining").start()
    yield s
    await s.stop()


@pytest.fixture
async def spool(tmp_path: Path) -> AsyncIterator[Spool]:
    sp = await Spool.open(tmp_path / "spool")
    yield sp
    await sp.close()


@asynccontextmanager
async def running(spool: Spool, upstream: UpstreamConfig, delivery: DeliveryConfig | None = None,
                  outbox: Path | None = None) -> AsyncIterator[DeliveryService]:
    service = DeliveryService(spool, upstream, delivery or fast_delivery(),
                              outbox=outbox or spool.directory / "outbox", hostname="gw.test")
    await service.start()
    try:
        yield service
    finally:
        await service.stop(timeout=5.0)


def delivery_status(dsn: bytes) -> tuple[Message, list[Message], Message]:
    """Parse a DSN with the stdlib parser: (whole report, status groups, returned headers part)."""
    report = message_from_bytes(dsn)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    payload = report.get_payload()
    assert isinstance(payload, list)
    parts = [p for p in payload if isinstance(p, Message)]
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    status = parts[1].get_payload()
    assert isinstance(status, list)
    groups = [g for g in status if isinstance(g, Message)]
    assert len(groups) == len(status)
    return report, groups, parts[2]


async def test_delivers_byte_exact_to_upstream_and_finishes_entry(spool: Spool, sink: Sink) -> None:
    data = message()
    with capture_logs() as logs:
        async with running(spool, upstream_for(sink)) as service:
            qid = await spool.put(SENDER, [BUYER, "second@marketplace.example"], data,
                                  {"message_id": "<Order-1@shop.example>", "tenant": "acme"})
            service.notify()
            received = await sink.handler.wait_for(1)
            await wait_until(lambda: drained(spool))
    assert received[0].data == data
    assert received[0].mail_from == SENDER
    assert received[0].rcpt_tos == [BUYER, "second@marketplace.example"]
    info = await spool.info(qid)
    assert info is not None
    assert info.state == "done"
    assert [(r.state, r.code) for r in info.recipients] == [("delivered", 250), ("delivered", 250)]
    attempt_logs = [e for e in logs if e["event"] == "delivery.attempt"]
    assert len(attempt_logs) == 1
    entry = attempt_logs[0]
    assert entry["queue_id"] == qid
    assert entry["message_id"] == "<Order-1@shop.example>"
    assert entry["tenant"] == "acme"
    assert entry["attempt"] == 1
    assert entry["next_retry"] is None
    assert entry["outcome"][BUYER].startswith("delivered 250")


async def test_pooled_connections_are_reused_without_rset_after_clean_transactions(spool: Spool, sink: Sink) -> None:
    async with running(spool, upstream_for(sink, pool_size=2), fast_delivery(workers=2)) as service:
        for i in range(10):
            await spool.put(SENDER, [BUYER], message(f"Order {i}"))
            service.notify()
        await sink.handler.wait_for(10)
        await wait_until(lambda: drained(spool))
        assert service.connections_opened <= 2
    assert sink.handler.sessions <= 2
    assert len(sink.messages) == 10
    assert sorted(m.data for m in sink.messages) == sorted(message(f"Order {i}") for i in range(10))
    # RFC 5321 4.1.4: a new MAIL may follow a completed transaction, so no RSET in between.
    assert sink.handler.commands.count("RSET") == 0
    assert sink.handler.commands.count("MAIL") == 10
    assert sink.handler.commands.count("EHLO") == sink.handler.sessions


async def test_rset_follows_a_transaction_that_did_not_complete(spool: Spool, sink: Sink) -> None:
    # The only recipient refused: MAIL is still in effect upstream, so the next transaction on
    # that connection must start with RSET.
    sink.behaviour.rcpt_replies["gone@marketplace.example"] = "550 5.1.1 no such user here"
    upstream = upstream_for(sink, pool_size=1)
    async with running(spool, upstream, fast_delivery(workers=1, send_dsn=False)) as service:
        await spool.put(SENDER, ["gone@marketplace.example"], message("Refused"))
        service.notify()
        await wait_until(lambda: drained(spool))
        await spool.put(SENDER, [BUYER], message("Accepted"))
        service.notify()
        received = await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
    assert [m.rcpt_tos for m in received] == [[BUYER]]
    assert sink.handler.sessions == 1
    assert sink.handler.commands == ["EHLO", "MAIL", "RCPT", "RSET", "MAIL", "RCPT", "DATA"]


async def test_temporary_failure_is_retried_then_delivered_once(spool: Spool, sink: Sink) -> None:
    sink.behaviour.data_reply = "451 4.3.0 try again later"
    async with running(spool, upstream_for(sink)) as service:
        qid = await spool.put(SENDER, [BUYER], message())
        service.notify()
        await wait_until(lambda: _at_least(spool, qid, 2))
        assert sink.messages == []
        info = await spool.info(qid)
        assert info is not None
        assert info.recipients[0].state == "pending"
        assert info.recipients[0].code == 451
        sink.behaviour.data_reply = None
        await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)  # room for a wrong extra delivery to show up
    assert len(sink.messages) == 1


async def _at_least(spool: Spool, queue_id: str, count: int) -> bool:
    return await attempts(spool, queue_id) >= count


async def test_upstream_down_then_up_delivers_once(spool: Spool, sink: Sink) -> None:
    port = sink.port
    await sink.stop()
    async with running(spool, upstream_for(sink)) as service:
        qid = await spool.put(SENDER, [BUYER], message())
        service.notify()
        await wait_until(lambda: _at_least(spool, qid, 2))
        info = await spool.info(qid)
        assert info is not None
        assert info.state == "pending"
        assert "connect" in (info.recipients[0].reply or "")
        await sink.start(port)
        await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)
    assert len(sink.messages) == 1
    assert sink.messages[0].data == message()


async def test_permanent_failure_sends_dsn_to_sender(spool: Spool, sink: Sink) -> None:
    sink.behaviour.rcpt_replies[BUYER] = "550 5.1.1 no such user here"
    original = message("Refund")
    async with running(spool, upstream_for(sink)) as service:
        qid = await spool.put(SENDER, [BUYER], original, {"message_id": "<Refund@shop.example>"})
        service.notify()
        received = await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
    assert len(received) == 1  # only the DSN, the original was refused
    dsn = received[0]
    assert dsn.mail_from == NULL_SENDER  # MAIL FROM:<>
    assert dsn.rcpt_tos == [SENDER]
    report, groups, headers = delivery_status(dsn.data)
    assert report["To"] == f"<{SENDER}>"
    assert report["Auto-Submitted"] == "auto-replied"
    per_message, per_rcpt = groups[0], groups[1:]
    assert per_message["Reporting-MTA"] == "dns; gw.test"
    assert per_message["Arrival-Date"]
    assert len(per_rcpt) == 1
    assert per_rcpt[0]["Final-Recipient"] == f"rfc822; {BUYER}"
    assert per_rcpt[0]["Action"] == "failed"
    assert per_rcpt[0]["Status"] == "5.1.1"
    assert per_rcpt[0]["Remote-MTA"] == "dns; 127.0.0.1"
    assert per_rcpt[0]["Diagnostic-Code"] == "smtp; 550 5.1.1 no such user here"
    returned = headers.get_payload()
    assert isinstance(returned, str)
    assert "Subject: Refund" in returned
    assert "leading dot" not in returned  # headers only, not the body
    info = await spool.info(qid)
    assert info is not None
    assert info.recipients[0].state == "failed"


async def test_null_sender_never_gets_a_dsn(spool: Spool, sink: Sink) -> None:
    sink.behaviour.rcpt_replies[BUYER] = "550 5.1.1 no such user here"
    async with running(spool, upstream_for(sink)) as service:
        qid = await spool.put("", [BUYER], message())
        service.notify()
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)
    assert sink.messages == []
    info = await spool.info(qid)
    assert info is not None
    assert info.state == "done"
    assert info.recipients[0].state == "failed"
    # MAIL and RCPT went out, DATA never did: the only recipient was refused.
    assert "DATA" not in sink.handler.commands


async def test_no_dsn_when_disabled(spool: Spool, sink: Sink) -> None:
    sink.behaviour.rcpt_replies[BUYER] = "550 5.1.1 no such user here"
    async with running(spool, upstream_for(sink), fast_delivery(send_dsn=False)) as service:
        qid = await spool.put(SENDER, [BUYER], message())
        service.notify()
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)
    assert sink.messages == []
    info = await spool.info(qid)
    assert info is not None
    assert info.recipients[0].state == "failed"


async def test_mixed_recipient_results(spool: Spool, sink: Sink) -> None:
    ok, later, never = "ok@marketplace.example", "later@marketplace.example", "gone@marketplace.example"
    sink.behaviour.rcpt_replies.update({later: "450 4.2.1 mailbox busy", never: "550 5.1.1 unknown"})
    data = message("Mixed")
    async with running(spool, upstream_for(sink)) as service:
        qid = await spool.put(SENDER, [ok, later, never], data)
        service.notify()
        await sink.handler.wait_for(2)  # the message for `ok`, and the DSN for `never`
        by_from = {m.mail_from: m for m in sink.messages}
        assert by_from[SENDER].rcpt_tos == [ok]
        assert by_from[SENDER].data == data
        _, groups, _ = delivery_status(by_from[NULL_SENDER].data)
        assert [g["Final-Recipient"] for g in groups[1:]] == [f"rfc822; {never}"]
        assert groups[1]["Status"] == "5.1.1"
        info = await spool.info(qid)
        assert info is not None
        assert [(r.address, r.state, r.code) for r in info.recipients] == [
            (ok, "delivered", 250), (later, "pending", 450), (never, "failed", 550)]
        del sink.behaviour.rcpt_replies[later]
        await sink.handler.wait_for(3)
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)
    originals = [m for m in sink.messages if m.mail_from == SENDER]
    assert [m.rcpt_tos for m in originals] == [[ok], [later]]
    assert len(sink.messages) == 3


async def test_stalled_upstream_times_out_then_delivers_once(spool: Spool, sink: Sink) -> None:
    sink.behaviour.stall_seconds = 3.0
    upstream = upstream_for(sink, command_timeout=0.3, data_timeout=0.3)
    async with running(spool, upstream) as service:
        qid = await spool.put(SENDER, [BUYER], message())
        service.notify()
        await wait_until(lambda: _at_least(spool, qid, 1))
        info = await spool.info(qid)
        assert info is not None
        assert info.state == "pending"
        assert "Timeout" in (info.recipients[0].reply or "")
        sink.behaviour.stall_seconds = 0.0
        await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
        await asyncio.sleep(0.3)
    assert len(sink.messages) == 1
    # The timed-out connection was discarded, not reused: a second session was needed.
    assert sink.handler.sessions >= 2


async def test_gives_up_after_give_up_after_with_dsn_4_4_7(spool: Spool, sink: Sink) -> None:
    sink.behaviour.rcpt_replies[BUYER] = "450 4.2.1 mailbox busy"
    async with running(spool, upstream_for(sink), fast_delivery(give_up_after=0.4)) as service:
        started = time.monotonic()
        qid = await spool.put(SENDER, [BUYER], message("Late"))
        service.notify()
        received = await sink.handler.wait_for(1)
        await wait_until(lambda: drained(spool))
    assert time.monotonic() - started >= 0.4
    assert received[0].mail_from == NULL_SENDER
    _, groups, _ = delivery_status(received[0].data)
    assert groups[1]["Final-Recipient"] == f"rfc822; {BUYER}"
    assert groups[1]["Action"] == "failed"
    assert groups[1]["Status"] == "4.4.7"
    assert "450 4.2.1 mailbox busy" in groups[1]["Diagnostic-Code"]
    assert await attempts(spool, qid) >= 2


async def test_restart_resumes_and_delivers_each_message_once(tmp_path: Path, sink: Sink) -> None:
    directory = tmp_path / "spool"
    port = sink.port
    first = await Spool.open(directory)
    async with running(first, upstream_for(sink)) as service:
        done_ids = [await first.put(SENDER, [BUYER], message(f"Early {i}")) for i in range(3)]
        service.notify()
        await sink.handler.wait_for(3)
        await wait_until(lambda: drained(first))
        await sink.stop()
        late_ids = [await first.put(SENDER, [BUYER], message(f"Late {i}")) for i in range(4)]
        service.notify()
        await wait_until(lambda: _at_least(first, late_ids[-1], 1))
    await first.close()

    await sink.start(port)
    second = await Spool.open(directory)
    try:
        assert await second.depth() == 4
        async with running(second, upstream_for(sink)):
            await sink.handler.wait_for(7)
            await wait_until(lambda: drained(second))
            await asyncio.sleep(0.3)
        for qid in done_ids + late_ids:
            info = await second.info(qid)
            assert info is not None
            assert info.state == "done"
    finally:
        await second.close()
    subjects = sorted(m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in sink.messages)
    expected = sorted([f"Early {i}".encode() for i in range(3)] + [f"Late {i}".encode() for i in range(4)])
    assert subjects == expected


def tls_sink(certs: CertPair, *, require_starttls: bool = True,
             authenticator: Any = None) -> Sink:
    def factory(handler: RecordingHandler) -> SMTP:
        return SMTP(handler, hostname="sink.test", tls_context=certs.server_context(),
                    require_starttls=require_starttls, authenticator=authenticator,
                    auth_required=authenticator is not None, auth_require_tls=True)
    return Sink(factory)


@pytest.mark.parametrize("mode", ["starttls", "opportunistic"])
async def test_starttls_with_verified_certificate(spool: Spool, tmp_path: Path, mode: str) -> None:
    certs = make_self_signed(tmp_path / "tls")
    sink = await tls_sink(certs).start()  # refuses MAIL before STARTTLS
    try:
        upstream = upstream_for(sink, tls=mode, ca_file=certs.cert_file)
        async with running(spool, upstream) as service:
            await spool.put(SENDER, [BUYER], message())
            service.notify()
            received = await sink.handler.wait_for(1)
        assert received[0].data == message()
    finally:
        await sink.stop()


async def test_untrusted_certificate_keeps_message_pending(spool: Spool, tmp_path: Path) -> None:
    certs = make_self_signed(tmp_path / "tls")
    sink = await tls_sink(certs).start()
    try:
        upstream = upstream_for(sink, tls="starttls")  # verify against system CAs: must fail
        async with running(spool, upstream) as service:
            qid = await spool.put(SENDER, [BUYER], message())
            service.notify()
            await wait_until(lambda: _at_least(spool, qid, 1))
        info = await spool.info(qid)
        assert info is not None
        assert info.state == "pending"  # a TLS problem is temporary: never bounced
        assert sink.messages == []
        assert "MAIL" not in sink.handler.commands
    finally:
        await sink.stop()


async def test_implicit_tls(spool: Spool, tmp_path: Path) -> None:
    certs = make_self_signed(tmp_path / "tls")
    sink = await Sink(ssl=certs.server_context()).start()
    try:
        upstream = upstream_for(sink, tls="implicit", ca_file=certs.cert_file)
        async with running(spool, upstream) as service:
            await spool.put(SENDER, [BUYER], message())
            service.notify()
            received = await sink.handler.wait_for(1)
        assert received[0].data == message()
    finally:
        await sink.stop()


async def test_auth_to_upstream(spool: Spool, tmp_path: Path) -> None:
    certs = make_self_signed(tmp_path / "tls")
    logins: list[tuple[bytes, bool]] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        good = auth_data.login == b"relayuser" and auth_data.password == b"s3cret"
        logins.append((auth_data.login, good))
        return AuthResult(success=good)

    sink = await tls_sink(certs, authenticator=authenticator).start()
    try:
        password_file = tmp_path / "upstream.pw"
        password_file.write_text("s3cret\n")
        upstream = upstream_for(sink, tls="starttls", ca_file=certs.cert_file, username="relayuser",
                                password_file=password_file)
        async with running(spool, upstream) as service:
            await spool.put(SENDER, [BUYER], message())
            service.notify()
            await sink.handler.wait_for(1)
        assert logins == [(b"relayuser", True)]

        wrong = upstream.model_copy(update={"password_file": None, "password": "nope"})
        async with running(spool, wrong) as service:
            qid = await spool.put(SENDER, [BUYER], message("Second"))
            service.notify()
            await wait_until(lambda: _at_least(spool, qid, 1))
        info = await spool.info(qid)
        assert info is not None
        assert info.state == "pending"  # our credentials problem must not bounce the seller's mail
        assert len(sink.messages) == 1
        assert (b"relayuser", False) in logins
    finally:
        await sink.stop()


async def test_maildir_outbox_receives_byte_exact_message(spool: Spool, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox"
    data = message("Local trial")
    async with running(spool, UpstreamConfig(host=None), outbox=outbox) as service:
        qid = await spool.put(SENDER, [BUYER, "two@marketplace.example"], data)
        service.notify()
        await wait_until(lambda: drained(spool))
    files = list((outbox / "new").iterdir())
    assert len(files) == 1
    assert list((outbox / "tmp").iterdir()) == []
    expected_prefix = (f"Return-Path: <{SENDER}>\r\nX-Original-To: {BUYER}, two@marketplace.example\r\n"
                       f"Delivered-To: {BUYER}\r\nDelivered-To: two@marketplace.example\r\n").encode()
    assert files[0].read_bytes() == expected_prefix + data
    box = mailbox.Maildir(outbox, create=False)
    assert len(box) == 1
    assert next(iter(box))["Subject"] == "Local trial"
    info = await spool.info(qid)
    assert info is not None
    assert [r.state for r in info.recipients] == ["delivered", "delivered"]


async def test_maildir_permanent_dsn_goes_to_outbox_too(spool: Spool, tmp_path: Path) -> None:
    # A recipient address with a control character cannot be relayed; it fails permanently, the
    # DSN lands in the outbox like any message. (put refuses CR/LF/NUL; TAB gets this far.)
    outbox = tmp_path / "outbox"
    async with running(spool, UpstreamConfig(host=None), outbox=outbox) as service:
        await spool.put(SENDER, ["bad\taddress@marketplace.example"], message())
        service.notify()
        await wait_until(lambda: drained(spool))
    box = mailbox.Maildir(outbox, create=False)
    messages = [box.get_bytes(key) for key in box.iterkeys()]
    assert len(messages) == 1
    assert messages[0].startswith(b"Return-Path: <>\r\n")
    _, groups, _ = delivery_status(messages[0].split(b"\r\n", 3)[3])
    assert groups[1]["Status"] == "5.1.3"


async def test_delivery_on_another_spool_instance_of_the_same_directory(tmp_path: Path,
                                                                        sink: Sink) -> None:
    # As when delivery runs in its own process: the listener's instance only puts, the delivery
    # instance finds the entries by polling SQLite (WAL, busy timeout) and records the results.
    directory = tmp_path / "spool"
    listener_side = await Spool.open(directory, handoff=False)
    delivery_side = await Spool.open(directory)
    try:
        async with running(delivery_side, upstream_for(sink)):
            ids = await asyncio.gather(*(listener_side.put(SENDER, [BUYER], message(f"P {i}"))
                                         for i in range(20)))
            await sink.handler.wait_for(20)
            await wait_until(lambda: drained(listener_side))
            await asyncio.sleep(0.2)
        assert len(sink.messages) == 20
        for qid in ids:
            info = await listener_side.info(qid)
            assert info is not None
            assert info.state == "done"
    finally:
        await listener_side.close()
        await delivery_side.close()


async def test_second_delivery_service_on_one_spool_is_refused(spool: Spool, sink: Sink) -> None:
    async with running(spool, upstream_for(sink)):
        other = await Spool.open(spool.directory)
        try:
            second = DeliveryService(other, upstream_for(sink), fast_delivery(),
                                     outbox=spool.directory / "outbox", hostname="gw.test")
            with pytest.raises(DeliveryAlreadyRunning):
                await second.start()
        finally:
            await other.close()
    # Once the first stopped, the lock is free again.
    async with running(spool, upstream_for(sink)) as service:
        await spool.put(SENDER, [BUYER], message())
        service.notify()
        await sink.handler.wait_for(1)


async def test_failed_start_releases_the_spool_lock(spool: Spool, sink: Sink, tmp_path: Path) -> None:
    broken = upstream_for(sink, tls="starttls", ca_file=tmp_path / "missing-ca.pem")
    service = DeliveryService(spool, broken, fast_delivery(), outbox=tmp_path / "outbox",
                              hostname="gw.test")
    with pytest.raises(FileNotFoundError):
        await service.start()
    async with running(spool, upstream_for(sink)) as working:
        await spool.put(SENDER, [BUYER], message())
        working.notify()
        await sink.handler.wait_for(1)


_DELIVERING_CHILD = """
import asyncio, sys
from pathlib import Path
from gateway.config import DeliveryConfig, UpstreamConfig
from gateway.delivery import DeliveryService
from gateway.log import configure_logging
from gateway.spool import Spool

async def main() -> None:
    configure_logging("console", "warning")
    spool = await Spool.open(Path(sys.argv[1]))
    up = UpstreamConfig(host="127.0.0.1", port=int(sys.argv[2]), tls="none", pool_size=2)
    service = DeliveryService(spool, up, DeliveryConfig(workers=2, poll_interval=0.05),
                              outbox=Path(sys.argv[1]) / "outbox", hostname="gw.test")
    await service.start()
    await asyncio.Event().wait()  # until killed

asyncio.run(main())
"""


async def test_killed_delivery_process_loses_nothing_and_duplicates_at_most_in_flight(
        tmp_path: Path, sink: Sink) -> None:
    directory = tmp_path / "spool"
    spool = await Spool.open(directory)
    ids = [await spool.put(SENDER, [BUYER], message(f"K {i}")) for i in range(200)]
    await spool.close()

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _DELIVERING_CHILD, str(directory), str(sink.port),
        cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await sink.handler.wait_for(60, timeout=30)
    finally:
        child.kill()  # SIGKILL mid-stream: no stop(), no close()
        await child.wait()
    delivered_before = len(sink.messages)
    assert delivered_before < 200, "the child should not have finished before it was killed"

    spool = await Spool.open(directory)
    try:
        async with running(spool, upstream_for(sink)):
            await wait_until(lambda: drained(spool), limit=30)
        for qid in ids:
            info = await spool.info(qid)
            assert info is not None
            assert info.state == "done"
    finally:
        await spool.close()
    subjects = [m.data.split(b"Subject: ")[1].split(b"\r\n")[0] for m in sink.messages]
    assert set(subjects) == {f"K {i}".encode() for i in range(200)}  # nothing lost
    # Only messages in the window between upstream 250 and the spool commit can go out twice:
    # per worker the one just answered plus at most two results awaiting their commit.
    duplicates = len(subjects) - len(set(subjects))
    assert duplicates <= 3 * 2, duplicates
