"""Test doubles of the policy engine's interface and helpers for the admin tests."""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosmtplib

from gateway.app import Gateway
from gateway.auth import hash_password
from gateway.classify import MarketplaceRecipient
from gateway.policy.verdict import Action, Hit, Verdict
from tests.conftest import listener_port

TOKEN = "test-admin-token-0123456789"
ADMIN_USER, ADMIN_PASSWORD = "alice", "correct horse battery"
ALIAS = "k3x9q2@marketplace.amazon.de"
EVIDENCE = "WhatsApp +49 151 2345678"
REPO_ROOT = Path(__file__).resolve().parents[2]


class HoldOffPlatformContact:
    """Stands in for the policy engine: holds mail that asks the buyer to move off the marketplace.

    ``lenient`` models a rule change (or an allow-list entry) between hold and re-check.
    """

    def __init__(self) -> None:
        self.lenient = False

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient], state: Any = None) -> Verdict:
        marketplace = recipients[0].marketplace if recipients else None
        if EVIDENCE.encode() in raw and not self.lenient:
            hit = Hit("off-platform-contact", Action.QUARANTINE, "asks the buyer to contact the seller off Amazon",
                      EVIDENCE)
            return Verdict(Action.QUARANTINE, hits=(hit,), marketplace=marketplace)
        return Verdict(Action.RELAY, marketplace=marketplace)

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return raw


def message(subject: str, body: str, to: str = ALIAS, extra_headers: str = "",
            content_type: str = "text/plain; charset=utf-8") -> bytes:
    return (f"From: seller@shop.example\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{abs(hash((subject, body)))}@shop.example>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: {content_type}\r\n{extra_headers}\r\n{body}").encode()


async def send(gw: Gateway, data: bytes, to: str = ALIAS) -> str:
    errors, reply = await aiosmtplib.send(data, sender="seller@shop.example", recipients=[to],
                                          hostname="127.0.0.1", port=listener_port(gw))
    assert errors == {}
    return reply


def held_body() -> str:
    return f"Thanks for your order!\r\nFor faster help write me on {EVIDENCE} any time.\r\n"


@functools.cache
def _credentials_text() -> str:
    # argon2 is slow on purpose: hash once per test run.
    return f"# admins\n{ADMIN_USER}:{hash_password(ADMIN_PASSWORD)}\nbob:{hash_password('smtp only')}\n"


def write_credentials(path: Path) -> Path:
    path.write_text(_credentials_text(), encoding="utf-8")
    return path


def admin_url(gw: Gateway, path: str) -> str:
    assert gw.admin is not None
    return f"http://127.0.0.1:{gw.admin.port}{path}"


def write_config(path: Path, gw: Gateway, **extra: str) -> Path:
    """A TOML file naming the running gateway's state directory, for the CLI in a subprocess."""
    lines = [f'[state]\ndirectory = "{gw.config.state_dir}"', "[policy]\nenabled = false"]
    lines += [f"[{section}]\n{body}" for section, body in extra.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run_cli(*args: str, timeout: float = 60.0) -> tuple[int, str, str]:
    """``python -m gateway ARGS`` in a subprocess, without blocking the gateway's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", *args, cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(timeout):
        out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
