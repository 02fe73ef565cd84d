"""Smoke test of an installed gateway, run where no source tree is: a venv built from the wheel, a
venv with the lowest allowed dependency versions, a container image (``buildah run``).

    python smoke.py GATEWAY_EXECUTABLE WORK_DIR --optout AMAZON_OPTOUT.eml

Standard library only (it also runs inside the image). It checks, in this order: ``gateway policy
test`` passes on the shipped packs; ``gateway bounce parse`` of an Amazon opt-out says
``amazon-optout``; ``gateway config check`` accepts the config below; ``gateway serve`` starts
(from its JSON log: every line must parse), answers ``/readyz``, relays a clean message into its
Maildir outbox, refuses a review-incentive message with a 5xx, and exits 0 on SIGTERM. Prints one
line per step with its duration; exit 1 on the first failure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ALIAS = "k7x2mq9p4tzl@marketplace.amazon.de"

CLEAN = f"""From: Shop Service <service@shop.example>
To: {ALIAS}
Subject: Ihre Bestellung 302-1234567-7654321
Message-ID: <smoke-clean@shop.example>
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Guten Tag,

Ihre Bestellung 302-1234567-7654321 wurde heute an DHL übergeben und kommt voraussichtlich
am Donnerstag an.

Mit freundlichen Grüßen
Ihr Shop-Team
"""

VIOLATING = f"""From: Shop Service <service@shop.example>
To: {ALIAS}
Subject: Your order 302-1234567-7654321
Message-ID: <smoke-violating@shop.example>
Date: Tue, 01 Dec 2026 10:00:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello,

leave us a 5 star review and we will send you a $10 gift card in return!

Your shop team
"""


class Failed(Exception):
    pass


class Step:
    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> Step:
        self.start = time.monotonic()
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        took = time.monotonic() - self.start
        print(f"smoke: {'ok  ' if exc is None else 'FAIL'} {self.name} ({took:.1f} s)"
              + ("" if exc is None else f": {exc}"), flush=True)


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=300, **kwargs)  # type: ignore[call-overload, no-any-return]


class ServeLog:
    """Reads the gateway's stderr, insisting that every line is one JSON object."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.events: list[dict[str, object]] = []
        self.bad: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._cond:
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict):
                        raise ValueError("not an object")
                    self.events.append(event)
                except ValueError:
                    self.bad.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, name: str, timeout: float) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events:
                    if event.get("event") == name:
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed(f"no {name!r} event in {timeout:.0f} s; log: {self.events[-5:]} {self.bad[-5:]}")
                self._cond.wait(left)

    def join(self) -> None:
        self._thread.join(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("gateway", help="the installed gateway executable")
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--optout", type=Path, required=True, help="an Amazon opt-out notice (.eml)")
    args = parser.parse_args()
    gw = args.gateway
    work: Path = args.workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    try:
        smoke(gw, work, args.optout.resolve())
    except Failed:
        return 1
    print("smoke: all steps passed")
    return 0


def smoke(gw: str, work: Path, optout: Path) -> None:
    with Step("gateway policy test (shipped packs and their examples)"):
        done = run([gw, "policy", "test"], cwd=work)
        if done.returncode != 0:
            raise Failed(f"exit {done.returncode}: {done.stdout[-800:]} {done.stderr[-800:]}")

    with Step("gateway bounce parse of an Amazon opt-out"):
        done = run([gw, "bounce", "parse", "--json", str(optout)], cwd=work)
        if done.returncode != 0:
            raise Failed(f"exit {done.returncode}: {done.stderr[-800:]}")
        kind = json.loads(done.stdout)["kind"]
        if kind != "amazon-optout":
            raise Failed(f"kind {kind!r}, expected 'amazon-optout'")

    state = work / "state"
    config = work / "gateway.toml"
    config.write_text(f"""
[server]
listen = "127.0.0.1:0"
hostname = "smoke.invalid"
[state]
directory = "{state}"
[admin]
listen = "127.0.0.1:0"
[delivery]
poll_interval = 0.2
[log]
format = "json"
""", encoding="utf-8")
    with Step("gateway config check"):
        done = run([gw, "config", "check", str(config)], cwd=work)
        if done.returncode != 0:
            raise Failed(f"exit {done.returncode}: {done.stderr[-800:]}")

    proc = subprocess.Popen([gw, "serve", "--config", str(config)], cwd=work, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    log = ServeLog(proc)
    try:
        with Step("gateway serve starts and /readyz answers 200"):
            started = log.wait_for("gateway_started", 60)
            admin = log.wait_for("admin_listening", 5)
            smtp_port = int(str(started["port"]))
            url = f"http://127.0.0.1:{admin['port']}/readyz"
            with urllib.request.urlopen(url, timeout=10) as resp:
                if resp.status != 200:
                    raise Failed(f"{url}: {resp.status}")

        with Step("gateway health (the image's HEALTHCHECK) finds /readyz from the config"):
            # The same config with the admin port serve was given, named by $GATEWAY_CONFIG as in the image.
            probe = work / "health.toml"
            probe.write_text(config.read_text(encoding="utf-8").replace(
                'listen = "127.0.0.1:0"\n[delivery]', f'listen = "127.0.0.1:{admin["port"]}"\n[delivery]'),
                encoding="utf-8")
            done = run([gw, "health"], cwd=work, env={**os.environ, "GATEWAY_CONFIG": str(probe)})
            if done.returncode != 0:
                raise Failed(f"exit {done.returncode}: {done.stdout} {done.stderr}")

        with Step("a clean message is relayed into the Maildir outbox"):
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                client.sendmail("service@shop.example", [ALIAS], CLEAN.replace("\n", "\r\n").encode("utf-8"))
            new = state / "outbox" / "new"
            deadline = time.monotonic() + 30
            while not (new.is_dir() and any(new.iterdir())):
                if time.monotonic() > deadline:
                    raise Failed(f"nothing in {new} after 30 s")
                time.sleep(0.2)
            delivered = next(new.iterdir()).read_bytes()
            if b"302-1234567-7654321" not in delivered:
                raise Failed("the delivered message is not the one sent")

        with Step("a review-incentive message is refused with 5xx"):
            try:
                with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
                    client.sendmail("service@shop.example", [ALIAS], VIOLATING.replace("\n", "\r\n").encode())
            except smtplib.SMTPDataError as exc:
                if not 500 <= exc.smtp_code < 600:
                    raise Failed(f"answered {exc.smtp_code} {exc.smtp_error!r}") from None
            else:
                raise Failed("accepted a message asking for a 5-star review against a gift card")

        with Step("SIGTERM: clean exit, every log line JSON"):
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            log.join()
            if code != 0:
                raise Failed(f"exit {code}")
            log.wait_for("gateway_stopped", 1)
            if log.bad:
                raise Failed(f"{len(log.bad)} non-JSON log lines, first: {log.bad[0]!r}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
