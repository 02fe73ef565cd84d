"""``gateway check --config`` and a real SMTP transaction decide alike, for every example message
in policies/examples/: the same action, the same rule hits, the same kind of reply.

One gateway runs from a TOML file with the shipped packs and a SQLite state; each example's state
(``X-Example-Alias-Status``, ``X-Example-Review-Requests``) is written into that store first, so the
stateful rules have something to read, and undone afterwards, so examples do not leak into each
other. The check runs the CLI's own code path on the same file (one example also as a subprocess).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from gateway.app import Gateway, policy_loader
from gateway.cli.check import check_message
from gateway.config import load_config
from gateway.outcome import Disposition
from gateway.policy.content import addresses_in, decode_header_value
from gateway.policy.examples import read_example
from gateway.store.base import Store
from gateway.tenants import TenantDirectory
from tests.conftest import REPO_ROOT, listener_port
from tests.sink import Sink

EXAMPLES = sorted(p for p in (REPO_ROOT / "policies" / "examples").rglob("*") if p.name.endswith((".eml", ".eml.gz")))
COUNTED = ("review-request", "critical")


def crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def envelope(raw: bytes) -> tuple[str, list[str], dict[str, str]]:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    rcpts: list[str] = []
    for name in ("To", "Cc"):
        for value in headers.get_all(name) or []:
            rcpts.extend(addresses_in(decode_header_value(value)))
    senders = addresses_in(decode_header_value(str(headers.get("From", ""))))
    extra = {k.lower(): decode_header_value(v) for k, v in headers.items() if k.lower().startswith("x-example-")}
    return (senders[0] if senders else "seller@shop.example"), rcpts, extra


async def seed(store: Store, extra: dict[str, str]) -> list[str]:
    """The example's state into the store; returns the aliases set, to undo."""
    aliases = []
    status = extra.get("x-example-alias-status")
    if status:
        alias, _, value = status.strip().partition("=")
        await store.record_alias(alias.strip(), value.strip(), marketplace=None, order_id=None,  # type: ignore[arg-type]
                                 evidence="example", source="test")
        aliases.append(alias.strip())
    for item in extra.get("x-example-review-requests", "").split(","):
        order, _, count = item.strip().partition("=")
        for n in range(int(count) if count.strip().isdigit() else 0):
            await store.record_relay(f"seed-{order}-{n}", f"<seed-{n}>", [], [order.strip()], (), ["review-request"])
    return aliases


async def unseed(store: Store, aliases: list[str], orders: tuple[str, ...]) -> None:
    for alias in aliases:
        await store.remove_alias(alias)
    for order in orders:
        for tag in COUNTED:
            while await store.order_counter(order, tag) > 0:
                await store.release_counter(order, tag)


async def smtp(gw: Gateway, raw: bytes, sender: str, rcpts: list[str]) -> int:
    try:
        errors, _reply = await aiosmtplib.send(raw, sender=sender, recipients=rcpts, hostname="127.0.0.1",
                                               port=listener_port(gw), timeout=30)
    except aiosmtplib.SMTPResponseException as exc:
        return exc.code
    assert errors == {}
    return 250


def kind(code: int) -> str:
    return "accepted" if code < 400 else "deferred" if code < 500 else "refused"


def expected_kind(disposition: Disposition) -> str:
    return {Disposition.QUEUED: "accepted", Disposition.HELD: "accepted", Disposition.DEFERRED: "deferred",
            Disposition.REFUSED: "refused"}[disposition]


@pytest.fixture
async def served(tmp_path: Path, sink: Sink) -> Any:
    config_file = tmp_path / "gateway.toml"
    config_file.write_text(
        f'[server]\nlisten = "127.0.0.1:0"\nhostname = "gateway.test"\nmax_message_size = 104857600\n'
        f'[state]\ndirectory = "{tmp_path / "state"}"\n'
        f'[upstream]\nhost = "127.0.0.1"\nport = {sink.port}\ntls = "none"\n'
        '[delivery]\npoll_interval = 0.1\n[admin]\nenabled = false\n[log]\nlevel = "warning"\n', encoding="utf-8")
    gw = Gateway(load_config(config_file), config_path=config_file)
    await gw.start()
    yield gw, config_file
    await gw.stop(grace=2.0)


async def test_check_and_smtp_agree_on_every_example(served: Any) -> None:
    gw, config_file = served
    assert gw.store is not None and gw.processor is not None
    config = load_config(config_file)
    tenants = TenantDirectory(config, policy_loader(config))  # loaded as `gateway check --config` loads them
    compared = 0
    for path in EXAMPLES:
        raw = crlf(read_example(path))
        sender, rcpts, extra = envelope(raw)
        aliases = await seed(gw.store, extra)
        checked, _tenant = await check_message(config, tenants, raw, rcpts, mail_from=sender)
        before = len(await gw.store.decisions())
        code = await smtp(gw, raw, sender, rcpts)
        await gw.processor.drain()
        name = path.relative_to(REPO_ROOT)
        assert kind(code) == expected_kind(checked.disposition), (name, code, checked)
        # This message's decisions are the ones recorded since (newest first); matching by
        # Message-ID would miss examples without one, which the gateway gives one of its own.
        recorded = await gw.store.decisions()
        decisions = recorded[: len(recorded) - before]
        if checked.verdict.marketplace is None:
            assert not checked.verdict.hits and decisions == [], name
        else:
            assert decisions, name
            decided = decisions[0]  # newest first
            assert decided.action == str(checked.verdict.action), (name, decided, checked.verdict)
            assert list(decided.rules) == [h.rule for h in checked.verdict.hits], (name, decided, checked.verdict)
            compared += 1
        await unseed(gw.store, aliases, checked.verdict.order_ids)
    assert compared >= 0.9 * len(EXAMPLES) and len(EXAMPLES) > 50


def test_cli_check_config_reports_the_stages(served: Any, tmp_path: Path) -> None:
    _gw, config_file = served
    eml = tmp_path / "misused.eml"
    eml.write_bytes(crlf(read_example(REPO_ROOT / "policies" / "examples" / "critical" / "misused-keyword-de.eml")))
    done = subprocess.run([sys.executable, "-m", "gateway", "check", str(eml), "--json", "--config", str(config_file)],
                          cwd=REPO_ROOT, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["action"] == "quarantine" and data["outcome"] == "held"
    assert data["decided_by"] == ["evaluate", "store"]
    assert [s["stage"] for s in data["stages"]] == ["classify", "evaluate", "repair", "shadow", "reserve", "store"]
    assert data["smtp_reply"].startswith("250 2.0.0")
