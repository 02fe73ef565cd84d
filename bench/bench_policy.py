"""Time PolicyEngine.evaluate, all packs loaded, on two messages: a 4 KB plain German text (an
ordinary delivery notice) and a ~20 KB HTML+text message with a PDF attachment.

    python bench/bench_policy.py [--runs 3000] [--size 20000]

Prints the median and p99 time per message, as wall-clock time and as the thread's CPU time (on a
busy shared machine the CPU time shows the engine's own cost; wall time includes waiting for a
core). Targets (issue 13): median < 0.5 ms for the 4 KB plain text, < 1 ms for the
20 KB HTML. Timing lives here only, never in unit tests.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.classify import Classifier
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.engine import InMemoryPolicyState, PolicyEngine

ORDER = "302-4817265-9034712"
PARAGRAPH = (
    "Guten Tag, Ihr Kleiderschrank aus Bestellung {order} wird per Spedition geliefert. Die Spedition bittet "
    "um einen Liefertermin; passt Ihnen Dienstag zwischen 8 und 12 Uhr? Die Montageanleitung liegt bei, "
    "die Rechnung finden Sie im Anhang. Bei Fragen zur Lieferung antworten Sie bitte auf diese Nachricht. "
)


def build_message(size: int) -> bytes:
    text_target = size // 3
    plain = ""
    while len(plain) < text_target:
        plain += PARAGRAPH.format(order=ORDER) + "\n\n"
    html = "<html><body>"
    for i, para in enumerate(plain.split("\n\n")):
        if para:
            html += f'<p style="font-family:Arial">{para}</p>' + ("<b>Hinweis:</b>" if i % 5 == 0 else "")
    html += '<p><img src="cid:logo@shop" width="120" height="40" alt="Logo"></p></body></html>'
    alt = MIMEMultipart("alternative")
    alt.attach(MIMEText(plain, "plain", "utf-8"))
    alt.attach(MIMEText(html, "html", "utf-8"))
    msg = MIMEMultipart("mixed")
    msg.attach(alt)
    pdf_size = max(1024, size - len(plain) - len(html))
    pdf = b"%PDF-1.4\n" + b"1 0 obj <</Type/Catalog>> endobj\n" * (pdf_size // 45) + b"%%EOF\n"
    part = MIMEApplication(pdf, "pdf")
    part.add_header("Content-Disposition", "attachment", filename="Rechnung.pdf")
    msg.attach(part)
    msg["From"] = "service@mustermann-handel.example"
    msg["To"] = "b7d3kq9xz2m4np5@marketplace.amazon.de"
    msg["Subject"] = f"[Wichtig] Liefertermin zu Bestellung {ORDER}"
    return msg.as_bytes()


def build_plain(size: int = 4096) -> bytes:
    body = ""
    while len(body) < size - 400:
        body += PARAGRAPH.format(order=ORDER) + "\r\n\r\n"
    head = ("From: service@mustermann-handel.example\r\nTo: b7d3kq9xz2m4np5@marketplace.amazon.de\r\n"
            f"Subject: [Wichtig] Liefertermin zu Bestellung {ORDER}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
    return (head + body + "Mit freundlichen Grüßen\r\nIhr Team von Mustermann Handel\r\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    engine = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    recipients = Classifier(MarketplaceConfig().tlds).marketplace_recipients(
        ["b7d3kq9xz2m4np5@marketplace.amazon.de"]
    )
    state = InMemoryPolicyState()
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cpus")
    for label, raw in (("4 KB plain text", build_plain()), ("20 KB HTML + PDF", build_message(args.size))):
        verdict = engine.evaluate(raw, recipients, state)
        for _ in range(200):  # warm-up
            engine.evaluate(raw, recipients, state)
        wall: list[float] = []
        cpu: list[float] = []
        gc.collect()
        for _ in range(args.runs):
            start_cpu = time.thread_time_ns()
            start = time.perf_counter_ns()
            engine.evaluate(raw, recipients, state)
            wall.append((time.perf_counter_ns() - start) / 1e6)
            cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        print(f"{label}: {len(raw)} bytes, {len(engine.rules)} rules, verdict {verdict.action} "
              f"({', '.join(h.rule for h in verdict.hits) or 'no hits'}), language {verdict.language}, "
              f"purpose {verdict.purpose}")
        for name, times in (("wall", wall), ("cpu", cpu)):
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"  {name:>4}: runs {args.runs}  median {statistics.median(times):.3f} ms  "
                  f"p99 {p99:.3f} ms  max {times[-1]:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
