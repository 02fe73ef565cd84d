"""The gateway beside a real Postfix on the same machine, driven by Postfix's own C load tools.

One run measures, side by side:

* ``smtp-source`` straight into ``smtp-sink`` (the limit of the load tools on this machine);
* a private Postfix instance (Debian's ``postfix``: its own config and queue folders, loopback
  ports, fsync'd queue, 60 generated regexp ``header_checks``/``body_checks``) relaying into the sink;
* the gateway relaying into the sink, for a plain recipient and for a marketplace alias with all
  rule packs loaded and decision logs at ``info`` (what the product exists for); optionally with
  ``[delivery] process = "separate"`` and with connections reused (``smtp-source -d``).

For each path it prints the accept rate (messages/s until ``smtp-source`` has its last 250), the
end-to-end rate (until ``smtp-sink`` counted them all), the CPU time the relay used per message
(user + system, from /proc, summed over its process tree), its peak RSS and the ratio to Postfix.

    python bench/peer.py [--messages 10000] [--sessions 20] [--skip-separate] [--skip-reuse]
                         [--workers 1,2] [--event-loop auto|asyncio|uvloop] [--skip-postfix]

``--workers`` runs the gateway once per count (``[server] workers``: with more than one, a
supervisor and that many worker processes; CPU is summed over the whole process tree).

Not part of the test suite. Needs Debian's ``postfix`` (``smtp-source``, ``smtp-sink``, ``postfix``)
and root (Postfix's master drops to the ``postfix`` user); skips with a message otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import free_port, gateway_config, machine, rss_mb, start_gateway

SMTP_SOURCE = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
SENDER = "buchhaltung@moebelhaus-beispiel.de"
ALIAS = "8kq2m4vtx7pl3wz@marketplace.amazon.de"
PLAIN = "kunde@example.com"

# A German invoice as an ERP writes it: salutation, order table, totals, legal footer. Benign.
INVOICE_DE = """\
From: Möbelhaus Beispiel GmbH <buchhaltung@moebelhaus-beispiel.de>
To: {to}
Subject: Ihre Rechnung RE-2026-104233 zur Bestellung 302-4817265-9034712
Date: Tue, 01 Dec 2026 09:14:03 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Sehr geehrte Frau Schneider,

vielen Dank für Ihre Bestellung 302-4817265-9034712 vom 27.11.2026. Anbei erhalten Sie die
Rechnung zu Ihrer Bestellung. Bitte bewahren Sie diese Rechnung für Ihre Unterlagen auf.

Rechnungsnummer:   RE-2026-104233
Rechnungsdatum:    01.12.2026
Lieferdatum:       30.11.2026
Bestellnummer:     302-4817265-9034712
Zahlungsart:       Amazon Pay (bereits bezahlt)

Pos  Menge  Artikel                                              Einzelpreis     Gesamt
---------------------------------------------------------------------------------------
1    1      Esstisch Eiche massiv, geölt, 160 x 90 cm               649,00 EUR  649,00 EUR
2    4      Polsterstuhl Samt, Farbe Salbei, Beine Metall schwarz    89,90 EUR  359,60 EUR
3    1      Pflegeset für geölte Holzoberflächen, 250 ml            14,95 EUR   14,95 EUR
4    2      Filzgleiter rund, 25 mm, 16er Pack                       3,49 EUR    6,98 EUR
---------------------------------------------------------------------------------------
                                                     Zwischensumme (netto)  866,76 EUR
                                                     zzgl. 19 % USt.        164,69 EUR
                                                     Versandkosten            0,00 EUR
                                                     Rechnungsbetrag      1.031,45 EUR

Der Rechnungsbetrag wurde bereits über Amazon beglichen. Es ist keine weitere Zahlung
erforderlich. Die Ware bleibt bis zur vollständigen Bezahlung unser Eigentum.

Lieferanschrift:
Sabine Schneider
Lindenstraße 14
50674 Köln
Deutschland

Rechnungsanschrift:
Sabine Schneider
Lindenstraße 14
50674 Köln
Deutschland

Hinweise zur Pflege: Bitte behandeln Sie die Tischplatte vor dem ersten Gebrauch mit dem
beiliegenden Pflegeöl und wiederholen Sie die Behandlung etwa alle sechs Monate. Stellen Sie
keine heißen Töpfe direkt auf die Oberfläche und wischen Sie Flüssigkeiten sofort ab.

Gewährleistung: Es gelten die gesetzlichen Gewährleistungsrechte. Für die Polsterstühle
gewährt der Hersteller zusätzlich eine Garantie von zwei Jahren ab Lieferdatum; die
Garantiebedingungen liegen der Lieferung bei.

Lieferung und Montage: Die Möbel wurden per Spedition geliefert. Bitte prüfen Sie die Ware
nach Erhalt auf Transportschäden und vermerken Sie sichtbare Schäden auf dem Lieferschein der
Spedition. Die Aufbauanleitung für den Esstisch liegt dem Paket mit der Tischplatte bei; für den
Aufbau benötigen Sie einen Innensechskantschlüssel (im Lieferumfang enthalten) und etwa
zwanzig Minuten. Die Stühle werden vormontiert geliefert.

Entsorgung: Verpackungsmaterial aus Karton und Folie kann über die kommunale Wertstoffsammlung
entsorgt werden. Wir sind im Verpackungsregister LUCID unter der Nummer DE1234567890123
registriert und beteiligen uns an einem dualen System.

Widerrufsbelehrung: Sie haben das Recht, binnen vierzehn Tagen ohne Angabe von Gründen diesen
Vertrag zu widerrufen. Die Widerrufsfrist beträgt vierzehn Tage ab dem Tag, an dem Sie oder
ein von Ihnen benannter Dritter, der nicht der Beförderer ist, die Waren in Besitz genommen
haben bzw. hat. Um Ihr Widerrufsrecht auszuüben, nutzen Sie bitte die Rücksendefunktion in
Ihrem Amazon-Konto unter "Meine Bestellungen".

Mit freundlichen Grüßen

Ihr Team der Möbelhaus Beispiel GmbH
Buchhaltung

--
Möbelhaus Beispiel GmbH
Industriestraße 7
33602 Bielefeld
Geschäftsführer: Thomas Berger, Claudia Vogt
Amtsgericht Bielefeld, HRB 45821
USt-IdNr.: DE 298 765 432
WEEE-Reg.-Nr.: DE 12345678
"""

PLAIN_TEXT = """\
From: Büro <office@shop.example>
To: {to}
Subject: Protokoll der Besprechung vom 30.11.
Date: Tue, 01 Dec 2026 09:14:03 +0100
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

""" + "Hallo zusammen, anbei das Protokoll der Besprechung mit den offenen Punkten zur Inventur.\n" * 44


def rule_files(folder: Path) -> tuple[Path, Path]:
    """60 regexp checks (30 header, 30 body) of the kind a shop admin writes; none hits the benign mail."""
    header = [f"/^Subject:.*(gewinnspiel|lottery|viagra|bitcoin|casino|crypto){i:02d}/ REJECT spam {i}"
              for i in range(15)]
    header += [f"/^From:.*@(spam|bulk|promo)-{i:02d}\\.example/ REJECT sender {i}" for i in range(15)]
    body = [f"/(https?:\\/\\/)?(www\\.)?(bit\\.ly|tinyurl|gutschein|rabattcode)-{i:02d}/ REJECT body {i}"
            for i in range(15)]
    body += [f"/(bewerten sie uns|5 sterne|whatsapp|telegram) {i:02d}x/ REJECT body {i + 15}"
             for i in range(15)]
    (folder / "header_checks").write_text("\n".join(header) + "\n")
    (folder / "body_checks").write_text("\n".join(body) + "\n")
    return folder / "header_checks", folder / "body_checks"


@contextlib.contextmanager
def postfix_instance(root: Path, port: int, sink_port: int) -> Iterator[int]:
    """A private Postfix relaying everything it accepts on 127.0.0.1:port to the sink; yields master's pid."""
    etc, queue, data = root / "etc", root / "queue", root / "data"
    for d in (etc, queue, data):
        d.mkdir(parents=True)
    shutil.chown(data, "postfix")
    header, body = rule_files(etc)
    (etc / "main.cf").write_text(f"""\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = peer.bench.test
mydestination =
local_transport = error:local delivery disabled
relayhost = [127.0.0.1]:{sink_port}
mynetworks = 127.0.0.0/8
smtp_dns_support_level = disabled
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
header_checks = regexp:{header}
body_checks = regexp:{body}
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
""")
    lines = []
    skip = False
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            if not skip:
                lines.append(line)
            continue
        fields = line.split()
        skip = fields[-1] == "pipe" or (len(fields) < 8 and fields[1] != "unix-dgram")
        if skip:
            continue
        if fields[0] == "smtp" and fields[1] == "inet":
            fields[0] = f"127.0.0.1:{port}"
        if len(fields) >= 8:
            fields[4] = "n"  # no chroot: the private queue has no chroot tree
        lines.append("\t".join(fields))
    (etc / "master.cf").write_text("\n".join(lines) + "\n")
    subprocess.run([POSTFIX, "-c", str(etc), "start"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        pid_file = queue / "pid" / "master.pid"
        deadline = time.monotonic() + 20
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        yield int(pid_file.read_text().split()[0])
    finally:
        subprocess.run([POSTFIX, "-c", str(etc), "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Sink:
    """``smtp-sink -c`` on a loopback port; ``count`` is the number of messages it has taken."""

    def __init__(self, port: int, pipelining: bool = True) -> None:
        self.port = port
        self.count = 0
        options = [] if pipelining else ["-P"]  # -P: no PIPELINING in the EHLO reply
        self.proc = subprocess.Popen([SMTP_SINK, "-c", "-u", "postfix", "-m", "1000", *options, f"127.0.0.1:{port}",
                                      "1024"], stdout=subprocess.PIPE)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        wait_port(port)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        buf = b""
        while chunk := self.proc.stdout.read1(4096):
            buf = (buf + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = int(found[-1])

    def wait_for(self, target: int, timeout: float, stalled: float = 20.0) -> bool:
        """Until ``target`` messages arrived; False after ``timeout``, or once nothing arrived for
        ``stalled`` seconds (a message the relay refused, say a 451, never comes)."""
        deadline = time.monotonic() + timeout
        last, last_change = self.count, time.monotonic()
        while self.count < target:
            now = time.monotonic()
            if self.count != last:
                last, last_change = self.count, now
            if now > deadline or now - last_change > stalled:
                return False
            time.sleep(0.005)
        return True

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def wait_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the live processes plus what their reaped children used."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return total / tick


def role(pid: int) -> str:
    """Which part of the relay a process is, from its command line."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "gone"
    text = b" ".join(args).decode(errors="replace")
    for needle, name in (("gateway.evaluation", "evaluation"), ("gateway worker", "workers"),
                         ("gateway deliver", "delivery"), ("gateway serve", "serve")):
        if needle in text:
            return name
    return "other"


def cpu_by_role(pids: list[int]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pid in pids:
        name = role(pid)
        out[name] = out.get(name, 0.0) + cpu_seconds([pid])
    return out


@dataclass
class Figures:
    label: str
    accepted: float
    end_to_end: float
    cpu_ms: float | None
    rss_mb: float | None
    refused: int
    split: dict[str, float] | None = None  # CPU ms per message by process role


def drive(label: str, port: int, sink: Sink, message: Path, messages: int, sessions: int, rcpt: str,
          relay_pid: int | None, *, reuse: bool) -> Figures:
    before = sink.count
    pids = process_tree(relay_pid) if relay_pid else []
    cpu_before = cpu_seconds(pids) if pids else 0.0
    roles_before = cpu_by_role(pids)
    cmd = [SMTP_SOURCE, "-A", "-s", str(sessions), "-m", str(messages), "-F", str(message), "-f", SENDER,
           "-t", rcpt, "-M", "erp.shop.example"]
    if reuse:
        cmd.append("-d")
    started = time.perf_counter()
    subprocess.run([*cmd, f"127.0.0.1:{port}"], check=True, stdout=subprocess.DEVNULL)
    accepted_at = time.perf_counter()
    complete = sink.wait_for(before + messages, timeout=600)
    done_at = time.perf_counter()
    received = sink.count - before
    cpu_ms = rss = None
    split = None
    if relay_pid:
        pids = process_tree(relay_pid)
        cpu_ms = (cpu_seconds(pids) - cpu_before) * 1000 / messages
        split = {name: (value - roles_before.get(name, 0.0)) * 1000 / messages
                 for name, value in cpu_by_role(pids).items()}
        rss = sum(rss_mb(p, "VmHWM") for p in pids if Path(f"/proc/{p}").exists())
    return Figures(label, messages / (accepted_at - started),
                   received / (done_at - started) if complete else float("nan"), cpu_ms, rss,
                   messages - received, split)


def warm_up(port: int, sink: Sink, message: Path, sessions: int, rcpt: str) -> None:
    """Untimed: the gateway's policy evaluation processes start on demand; let them start first."""
    before = sink.count
    cmd = [SMTP_SOURCE, "-A", "-s", str(sessions), "-m", str(sessions * 5), "-F", str(message), "-f", SENDER,
           "-t", rcpt, "-M", "erp.shop.example", f"127.0.0.1:{port}"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    sink.wait_for(before + sessions * 5, timeout=120, stalled=10)


@contextlib.contextmanager
def gateway(root: Path, sink_port: int, *, separate: bool, workers: int = 1,
            event_loop: str = "auto") -> Iterator[tuple[int, int]]:
    port = free_port()
    extra = (f'workers = {workers}\nevent_loop = "{event_loop}"\n'
             f'[delivery]\nprocess = "{"separate" if separate else "inline"}"\n')
    config = gateway_config(root, port, sink_port, extra=extra, log_level="info")
    log_path = root / "gateway.log"
    log = log_path.open("wb")
    proc = start_gateway(config, stderr=log)
    try:
        wait_ready(log_path, proc)
        wait_port(port)
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        log.close()


def wait_ready(log: Path, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    """Until the gateway says it serves: with several workers the supervisor's socket accepts
    connections (into its backlog) before every worker listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if '"event": "workers_ready"' in text or ('"event": "gateway_started"' in text and '"role": "all"' in text):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"the gateway exited ({proc.returncode}):\n{text[-3000:]}")
        time.sleep(0.2)
    raise TimeoutError("the gateway did not start in time")


def table(rows: list[Figures], postfix: Figures | None) -> None:
    print(f"\n{'path':<52} {'accepted':>9} {'end-to-end':>11} {'x Postfix':>10} {'CPU/msg':>9} {'peak RSS':>9}")
    for r in rows:
        ratio = f"{r.end_to_end / postfix.end_to_end:9.2f}x" if postfix and r is not postfix else f"{'-':>10}"
        cpu = f"{r.cpu_ms:6.2f} ms" if r.cpu_ms is not None else f"{'-':>9}"
        rss = f"{r.rss_mb:6.0f} MB" if r.rss_mb is not None else f"{'-':>9}"
        print(f"{r.label:<52} {r.accepted:7.0f}/s {r.end_to_end:9.0f}/s {ratio} {cpu} {rss}"
              + (f"  ({r.refused} not delivered)" if r.refused else ""))
    print("\nCPU per message by process (ms; a process's reaped children count with it):")
    for r in rows:
        if r.split and r.label.startswith("gateway"):
            print(f"  {r.label:<52} " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(r.split.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--skip-separate", action="store_true", help='skip [delivery] process = "separate"')
    parser.add_argument("--skip-reuse", action="store_true", help="skip the runs with reused connections (-d)")
    parser.add_argument("--workers", default="1,2",
                        help="comma-separated [server] workers counts to run the gateway with (default 1,2)")
    parser.add_argument("--event-loop", default="auto", choices=("auto", "asyncio", "uvloop"),
                        help="[server] event_loop of the gateway runs")
    parser.add_argument("--skip-postfix", action="store_true", help="skip the Postfix rows (ratios then missing)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    missing = [p for p in (SMTP_SOURCE, SMTP_SINK, POSTFIX) if not os.access(p, os.X_OK)]
    if missing:
        print(f"skipped: Debian's postfix is not installed ({', '.join(missing)} missing)")
        return 0
    if os.geteuid() != 0:
        print("skipped: a private Postfix instance needs root (its master drops to the postfix user)")
        return 0

    print(f"machine: {machine()}; load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{args.messages} messages over {args.sessions} sessions per path, a new connection per message "
          f"unless marked 'reused'")
    rows: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
        root = Path(tmp)
        os.chmod(root, 0o755)
        invoice, plain = root / "invoice-de.txt", root / "plain.txt"
        invoice.write_text(INVOICE_DE.format(to=ALIAS))
        plain.write_text(PLAIN_TEXT.format(to=PLAIN))
        print(f"marketplace message: {len(invoice.read_bytes())} bytes (German invoice with an order id, to {ALIAS}); "
              f"plain message: {len(plain.read_bytes())} bytes")
        sink = Sink(free_port())
        try:
            n, s = args.messages, args.sessions
            rows.append(drive("smtp-source -> smtp-sink (the limit here)", sink.port, sink, invoice, n, s,
                              ALIAS, None, reuse=False))
            postfix: Figures | None = None
            if not args.skip_postfix:
                pf_port = free_port()
                with postfix_instance(root / "postfix", pf_port, sink.port) as master:
                    wait_port(pf_port)
                    postfix = drive("Postfix 3.7, fsync'd queue, 60 regexp checks", pf_port, sink, invoice, n, s,
                                    ALIAS, master, reuse=False)
                    rows.append(postfix)
                    if not args.skip_reuse:
                        rows.append(drive("Postfix, connections reused", pf_port, sink, invoice, n, s, ALIAS,
                                          master, reuse=True))
            for count in counts:
                suffix = "" if count == 1 else f", {count} workers"
                with gateway(root / f"gw-inline-{count}", sink.port, separate=False, workers=count,
                             event_loop=args.event_loop) as (port, pid):
                    warm_up(port, sink, invoice, s, ALIAS)
                    rows.append(drive(f"gateway, plain recipient{suffix}", port, sink, plain, n, s, PLAIN, pid,
                                      reuse=False))
                    rows.append(drive(f"gateway, marketplace alias, all packs{suffix}", port, sink, invoice, n, s,
                                      ALIAS, pid, reuse=False))
                    if not args.skip_reuse:
                        rows.append(drive(f"gateway, marketplace alias, connections reused{suffix}", port, sink,
                                          invoice, n, s, ALIAS, pid, reuse=True))
            if not args.skip_separate:
                with gateway(root / "gw-separate", sink.port, separate=True,
                             event_loop=args.event_loop) as (port, pid):
                    warm_up(port, sink, invoice, s, ALIAS)
                    rows.append(drive('gateway, marketplace alias, process = "separate"', port, sink, invoice,
                                      n, s, ALIAS, pid, reuse=False))
        finally:
            sink.stop()
    table(rows, postfix)
    gw = {r.label: r for r in rows}
    for count in counts:
        suffix = "" if count == 1 else f", {count} workers"
        alias_row = gw[f"gateway, marketplace alias, all packs{suffix}"]
        plain_row = gw[f"gateway, plain recipient{suffix}"]
        if postfix is None:
            print(f"\n{count} worker(s): gateway CPU per marketplace message: {alias_row.cpu_ms:.2f} ms")
            continue
        print(f"\n{count} worker(s): marketplace mail end to end: {alias_row.end_to_end / postfix.end_to_end:.2f}x "
              f"Postfix (goal >= 1.5x); plain mail: {plain_row.end_to_end / postfix.end_to_end:.2f}x (goal >= 2x); "
              f"gateway CPU per marketplace message: {alias_row.cpu_ms:.2f} ms (goal <= 1.5 ms)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
