"""In production every line the gateway writes is one JSON object, libraries' lines included.

A real `gateway serve` with STARTTLS and AUTH (aiosmtpd logs on every AUTH, and used to print
"Session.login_data is deprecated" as plain text) goes through good and bad sessions; its whole
stderr must parse line by line, with one name per id (queue_id, quarantine_id).
"""

from __future__ import annotations

import json
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.auth import hash_password
from gateway.log import configure_logging
from tests.conftest import REPO_ROOT
from tests.tlsutil import make_self_signed

ALIAS = "q1w2e3r4t5y6@marketplace.amazon.de"
CLEAN = (f"From: service@shop.example\r\nTo: {ALIAS}\r\nSubject: Ihre Bestellung 302-1234567-7654321\r\n"
         "Message-ID: <log-test@shop.example>\r\n\r\nGuten Tag,\r\n\r\nfür die Gravur zu Ihrer Bestellung "
         "302-1234567-7654321 brauchen wir noch den Text: welchen Namen sollen wir eingravieren?\r\n\r\n"
         "Mit freundlichen Grüßen\r\nIhr Shop-Team\r\n")


def read_events(text: str) -> list[dict[str, object]]:
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            event = json.loads(line)
        except ValueError:
            pytest.fail(f"line {number} is not JSON: {line!r}")
        assert isinstance(event, dict), line
        events.append(event)
    return events


def test_a_serving_gateway_writes_only_json_lines(tmp_path: Path) -> None:
    pair = make_self_signed(tmp_path / "tls")
    users = tmp_path / "users"
    users.write_text(f"erp:{hash_password('correct horse')}\n")
    config = tmp_path / "gateway.toml"
    config.write_text(f'[server]\nlisten = "127.0.0.1:0"\nallowed_networks = ["192.0.2.0/24"]\n'
                      f'[tls]\ncert_file = "{pair.cert_file}"\nkey_file = "{pair.key_file}"\n'
                      f'[auth]\ncredentials_file = "{users}"\n[state]\ndirectory = "{tmp_path / "state"}"\n'
                      '[admin]\nenabled = false\n[delivery]\npoll_interval = 0.2\n'
                      '[log]\nformat = "json"\nlevel = "debug"\n')
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", "--config", str(config)], cwd=REPO_ROOT,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            event = json.loads(line)
            if event.get("event") == "gateway_started":
                port = int(event["port"])
        assert port is not None
        context = ssl.create_default_context(cafile=str(pair.cert_file))
        context.check_hostname = False
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # AUTH ok, relayed
            client.starttls(context=context)
            client.login("erp", "correct horse")
            client.sendmail("service@shop.example", [ALIAS], CLEAN.encode("utf-8"))
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # AUTH failed
            client.starttls(context=context)
            with pytest.raises(smtplib.SMTPAuthenticationError):
                client.login("erp", "wrong")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # no AUTH: relay denied
            client.ehlo()
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                client.sendmail("service@shop.example", [ALIAS], CLEAN.encode("utf-8"))
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:  # a broken STARTTLS handshake
            client.ehlo()
            assert client.docmd("STARTTLS")[0] == 220
            assert client.sock is not None
            client.sock.sendall(b"not a tls client hello\r\n" * 10)
            client.sock.settimeout(10)
            while client.sock.recv(4096):
                pass
        time.sleep(1)  # let delivery finish and log
    finally:
        proc.send_signal(signal.SIGTERM)
        _, out = proc.communicate(timeout=60)
    text = "".join(lines) + out
    events = read_events(text)
    names = [e["event"] for e in events]
    assert "auth_ok" in names and "auth_failed" in names and "relay_denied" in names
    assert "login_data" not in text
    decision = next(e for e in events if e["event"] == "decision")
    assert "ref" not in decision and decision["queue_id"] and decision["quarantine_id"] is None
    delivered = [e for e in events if e["event"] == "delivery.attempt"]
    assert delivered and delivered[0]["queue_id"] == decision["queue_id"]
    assert proc.returncode == 0


def test_stdlib_records_render_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    configure_logging("json", "info")
    try:
        logging.getLogger("mail.log").warning("Session.%s is deprecated", "login_data")
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("asyncio").exception("Task exception was never retrieved")
    finally:
        configure_logging("console", "info")
    lines = capsys.readouterr().err.splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["event"] == "Session.login_data is deprecated" and events[0]["logger"] == "mail.log"
    assert events[1]["level"] == "error" and "ValueError: boom" in events[1]["exception"]


_WRITER = """
import sys
from gateway.log import configure_logging, get_logger
configure_logging("json")
log = get_logger("test")
for n in range(int(sys.argv[1])):
    log.info("line", worker=sys.argv[2], n=n, pad="x" * 200)
"""


def test_processes_sharing_stderr_never_merge_lines(tmp_path: Path) -> None:
    """Prefork workers inherit the supervisor's stderr: each line must reach it in one write, or
    two workers' lines interleave into `{...}{...}` and a log shipper drops both."""
    out = tmp_path / "shared.log"
    lines = 3000
    with out.open("wb") as shared:
        procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(lines), str(worker)],
                                  cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=shared)
                 for worker in range(3)]
        for proc in procs:
            assert proc.wait(timeout=120) == 0
    events = read_events(out.read_text())
    assert len(events) == 3 * lines
    assert {str(event["worker"]) for event in events} == {"0", "1", "2"}
