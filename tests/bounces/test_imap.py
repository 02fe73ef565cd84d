"""The IMAP poller against a real Dovecot on 127.0.0.1 (TLS with a generated certificate)."""

from __future__ import annotations

import asyncio
import gc
import imaplib
import json
import os
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator, Sized
from pathlib import Path
from typing import Any

import pytest

from gateway.bounces.imap import ImapError, ImapPoller
from gateway.bounces.ingest import BounceIngestService
from gateway.config import GatewayConfig, config_from_mapping
from gateway.store.sqlite import SQLiteStore
from tests.bounces.messages import optout_notice, plain_mail
from tests.conftest import REPO_ROOT, GatewayFactory, eventually, wait_until
from tests.dovecot import DOVECOT, DovecotServer, run_dovecot

pytestmark = pytest.mark.skipif(
    DOVECOT is None, reason="dovecot not installed (apt-get install dovecot-imapd; .ci/run does this)")

ALIAS = "bcdfghjklmnpqrs@marketplace.amazon.de"
ORDER = "302-4817265-9034712"


async def _is(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def _at_least(items: Awaitable[Sized], n: int) -> bool:
    return len(await items) >= n


@pytest.fixture
def dovecot() -> Iterator[DovecotServer]:
    with run_dovecot() as server:
        yield server


def imap_section(server: DovecotServer, **overrides: Any) -> dict[str, Any]:
    section: dict[str, Any] = {
        "host": "127.0.0.1", "port": server.imaps_port, "tls": "implicit",
        "ca_file": str(server.cert.cert_file), "username": server.username,
        "password": server.password, "folder": "INBOX", "poll_interval": 0.2, "timeout": 10.0,
    }
    section.update(overrides)
    return section


def make_cfg(tmp_path: Path, server: DovecotServer, **overrides: Any) -> GatewayConfig:
    return config_from_mapping({"state": {"directory": str(tmp_path / "state")},
                                "bounces": {"imap": imap_section(server, **overrides)}})


class Mailbox:
    """The test's own IMAP client, to put mail in and look at what the poller left."""

    def __init__(self, server: DovecotServer) -> None:
        context = ssl.create_default_context(cafile=str(server.cert.cert_file))
        self.conn = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=context, timeout=10)
        self.conn.login(server.username, server.password)

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        typ, _ = self.conn.append(folder, None, None, raw)
        assert typ == "OK"

    def messages(self, folder: str) -> list[tuple[bytes, bytes]]:
        """(flags, raw) of every message in ``folder``."""
        typ, _ = self.conn.select(folder, readonly=True)
        if typ != "OK":
            return []
        _, data = self.conn.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            _, fetched = self.conn.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
            item = fetched[0]
            if not isinstance(item, tuple):  # moved away by a poller between SEARCH and FETCH
                continue
            found.append((item[0], item[1]))
        self.conn.close()
        return found

    def close(self) -> None:
        self.conn.logout()


@pytest.fixture
def box(dovecot: DovecotServer) -> Iterator[Mailbox]:
    mailbox = Mailbox(dovecot)
    yield mailbox
    mailbox.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = await SQLiteStore(tmp_path / "state").open()
    await s.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    yield s
    await s.close()


async def test_poll_records_notices_and_moves_them(tmp_path: Path, dovecot: DovecotServer, box: Mailbox,
                                                   store: SQLiteStore) -> None:
    cfg = make_cfg(tmp_path, dovecot)
    matched, unmatched, chat = optout_notice(ORDER), optout_notice("111-1111111-1111111"), plain_mail()
    for raw in (matched, unmatched, chat):
        box.append(raw)
    poller = ImapPoller(cfg.bounces.imap[0], BounceIngestService(store, cfg))

    counts = await poller.poll_once()
    assert (counts.messages, counts.matched, counts.unmatched, counts.not_bounce) == (3, 1, 1, 1)
    assert await store.alias_status(ALIAS) == "optout"
    assert [n.order_id for n in await store.unmatched_notices()] == ["111-1111111-1111111"]
    record = await store.get_alias(ALIAS)
    assert record is not None and record.source.startswith(
        f"imap:{dovecot.username}@127.0.0.1:{dovecot.imaps_port}/INBOX;uid=")

    assert box.messages("INBOX") == []
    moved = box.messages("Processed")
    assert sorted(raw for _flags, raw in moved) == sorted([matched, unmatched, chat])
    # BODY.PEEK: the humans sharing the mailbox still see the notices as unread.
    assert all(b"\\Seen" not in flags for flags, _raw in moved)

    again = await poller.poll_once()
    assert again.messages == 0
    assert len(await store.notices()) == 2


async def test_flag_mode_over_starttls_leaves_mail_in_place(tmp_path: Path, dovecot: DovecotServer,
                                                            box: Mailbox, store: SQLiteStore) -> None:
    cfg = make_cfg(tmp_path, dovecot, port=dovecot.imap_port, tls="starttls", processed_action="flag",
                   folder="Amazon Notices")
    assert box.conn.create('"Amazon Notices"')[0] == "OK"
    box.append(optout_notice(ORDER), '"Amazon Notices"')
    poller = ImapPoller(cfg.bounces.imap[0], BounceIngestService(store, cfg))

    assert (await poller.poll_once()).matched == 1
    [(flags, _raw)] = box.messages('"Amazon Notices"')
    assert b"$GatewayProcessed" in flags
    assert (await poller.poll_once()).messages == 0  # flagged mail is not read again

    box.append(optout_notice("111-1111111-1111111"), '"Amazon Notices"')
    assert (await poller.poll_once()).unmatched == 1


async def test_wrong_password_and_untrusted_certificate_are_errors(tmp_path: Path, dovecot: DovecotServer,
                                                                   store: SQLiteStore) -> None:
    bad_password = make_cfg(tmp_path, dovecot, password="wrong")
    with pytest.raises(ImapError, match="login"):
        await ImapPoller(bad_password.bounces.imap[0], BounceIngestService(store, bad_password)).poll_once()

    no_ca = make_cfg(tmp_path, dovecot, ca_file=None)
    with pytest.raises(ImapError, match="CERTIFICATE_VERIFY_FAILED"):
        await ImapPoller(no_ca.bounces.imap[0], BounceIngestService(store, no_ca)).poll_once()


async def test_gateway_polls_the_mailbox_it_is_configured_with(dovecot: DovecotServer, box: Mailbox,
                                                               gateway_factory: GatewayFactory) -> None:
    # dovecot first: it is torn down after the gateway (and its poller) stopped.
    gw = await gateway_factory(policy=None, bounces={"imap": imap_section(dovecot)})
    assert gw.store is not None and len(gw.imap_pollers) == 1
    await gw.store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
    box.append(optout_notice(ORDER))
    store = gw.store
    await eventually(lambda: _is(store.alias_status(ALIAS), "optout"), timeout=15)
    # Moved out of the INBOX once recorded.
    await wait_until(lambda: box.messages("INBOX") == [], timeout=15)
    assert len(box.messages("Processed")) == 1


async def test_cancelled_poll_loses_nothing_and_leaks_no_connection(tmp_path: Path, dovecot: DovecotServer,
                                                                    box: Mailbox, store: SQLiteStore) -> None:
    cfg = make_cfg(tmp_path, dovecot)
    notices = [optout_notice(f"111-1111111-{n:07d}") for n in range(12)]
    for raw in notices:
        box.append(raw)
    poller = ImapPoller(cfg.bounces.imap[0], BounceIngestService(store, cfg))
    task = asyncio.create_task(poller.poll_once())
    await eventually(lambda: _at_least(store.notices(), 2), timeout=15)
    task.cancel()  # a shutdown in the middle of a poll
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # the abandoned step finishes and logs out in its thread
    gc.collect()  # an unclosed socket would now raise ResourceWarning (an error under our pytest config)

    # The next poll picks up the rest; a notice recorded but not yet moved is recognised, not doubled.
    await poller.poll_once()
    assert box.messages("INBOX") == []
    assert sorted(raw for _flags, raw in box.messages("Processed")) == sorted(notices)
    assert len(await store.notices()) == 12


def test_bounce_poll_command(tmp_path: Path, dovecot: DovecotServer, box: Mailbox) -> None:
    def poll(password: str) -> subprocess.CompletedProcess[str]:
        cfg = tmp_path / "gateway.toml"
        cfg.write_text(f"""
[state]
directory = "state"

[bounces.imap]
host = "127.0.0.1"
port = {dovecot.imaps_port}
ca_file = "{dovecot.cert.cert_file}"
username = "{dovecot.username}"
password = "{password}"
""", encoding="utf-8")
        return subprocess.run([sys.executable, "-m", "gateway", "bounce", "poll", "--config", str(cfg), "--json"],
                              cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                              capture_output=True, text=True, timeout=120, check=False)

    box.append(optout_notice(ORDER))
    first = poll(dovecot.password)
    assert first.returncode == 0, first.stderr
    [summary] = [json.loads(line) for line in first.stdout.splitlines()]
    assert (summary["messages"], summary["unmatched"], summary["tenant"]) == (1, 1, "")
    again = poll(dovecot.password)
    assert json.loads(again.stdout)["messages"] == 0
    assert box.messages("INBOX") == []

    refused = poll("wrong")
    assert refused.returncode == 2
    assert "login" in refused.stderr and "AUTHENTICATIONFAILED" in refused.stderr


async def test_instances_sharing_a_database_poll_a_mailbox_one_at_a_time(
        dovecot: DovecotServer, box: Mailbox, gateway_factory: GatewayFactory, tmp_path: Path, pg_dsn: str) -> None:
    """While another instance holds the mailbox's poll, this one skips its rounds and leaves the
    mail alone; once the other is done, it polls."""
    from gateway.store.migrate import upgrade
    from gateway.store.postgres import PostgresStore

    await upgrade(pg_dsn)
    other = await PostgresStore(pg_dsn).open()
    try:
        section = imap_section(dovecot)
        source = f"imap:{dovecot.username}@127.0.0.1:{dovecot.imaps_port}/INBOX"
        box.append(optout_notice(ORDER))
        async with other.exclusive(f"imap-poll:{source}") as held:
            assert held
            gw = await gateway_factory(policy=None, bounces={"imap": section},
                                       state={"directory": str(tmp_path / "gw"), "database": pg_dsn})
            assert gw.store is not None and len(gw.imap_pollers) == 1
            poller = gw.imap_pollers[0]
            assert poller.source == source
            await gw.store.record_relay("Q1", "<m1@shop.example>", [(ALIAS, "de")], [ORDER], set())
            await wait_until(lambda: poller.skipped >= 3, timeout=15)
            assert poller.polls == 0 and len(box.messages("INBOX")) == 1
        await wait_until(lambda: poller.polls >= 1, timeout=15)
        await wait_until(lambda: box.messages("INBOX") == [], timeout=15)
        assert await gw.store.alias_status(ALIAS) == "optout"
    finally:
        await other.close()
