"""Time PolicyEngine.evaluate (all shipped packs loaded) per message, as the thread's CPU time.

Rows (``--rows`` picks groups, default all):

* ``size``: the German invoice of bench/peer.py (4 KB, order id, benign: the issue-17 message)
  and the same invoice padded to 100 KB (bench/growth.py's padding); an ordinary 4 KB German
  delivery notice in plain text; a ~20 KB and a ~100 KB HTML + text message with a PDF;
* ``rules``: the 4 KB invoice with the shipped packs plus a synthetic pack (bench/growth.py's:
  phrase and proximity rules in eight languages, none hits) to ten times the rules;
* ``languages``: every benign message of the labelled corpus (tests/corpus), per language and
  per kind (plain text / HTML or multipart with HTML): the mean and the largest of the messages'
  median CPU times.

    python bench/bench_policy.py [--runs 1000] [--rows size,rules,languages] [--json]

Each row is warmed up first; the figures are medians (and p99) of ``--runs`` evaluations (the
corpus rows run ``--runs / 20`` per message). CPU time, not wall time: on a busy shared machine
the CPU time shows the engine's own cost (it still grows somewhat with load: compare rows of one
run). Targets (issues 13, 17): well below 1 ms for the 4 KB invoice, < 0.5 ms for 4 KB plain
text, < 1 ms for 20 KB HTML. Timing lives here only, never in unit tests.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import email.utils
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.engine import InMemoryPolicyState, PolicyEngine

ORDER = "302-4817265-9034712"
ALIAS = "b7d3kq9xz2m4np5@marketplace.amazon.de"
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
    msg["To"] = ALIAS
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


def invoice(size: int) -> bytes:
    """bench/peer.py's German invoice (4 KB), padded to ``size`` as bench/growth.py does."""
    from bench.growth import invoice as padded

    return padded(size, 1)


def recipients_of(engine: PolicyEngine, raw: bytes) -> list[MarketplaceRecipient]:
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    addrs = [a for name in ("To", "Cc") for _, a in email.utils.getaddresses(headers.get_all(name) or [])]
    return engine.classifier.marketplace_recipients(addrs) or Classifier(
        MarketplaceConfig().tlds).marketplace_recipients([ALIAS])


def cpu_times(engine: PolicyEngine, raw: bytes, runs: int, warmup: int) -> list[float]:
    recipients = recipients_of(engine, raw)
    state = InMemoryPolicyState()
    for _ in range(warmup):
        engine.evaluate(raw, recipients, state)
    times: list[float] = []
    gc.collect()
    for _ in range(runs):
        start = time.thread_time_ns()
        engine.evaluate(raw, recipients, state)
        times.append((time.thread_time_ns() - start) / 1e6)
    times.sort()
    return times


def row(label: str, engine: PolicyEngine, raw: bytes, runs: int) -> dict[str, Any]:
    verdict = engine.evaluate(raw, recipients_of(engine, raw), InMemoryPolicyState())
    times = cpu_times(engine, raw, runs, min(200, runs))
    return {"row": label, "bytes": len(raw), "rules": len(engine.rules), "runs": runs,
            "median_ms": statistics.median(times), "min_ms": times[0],
            "p99_ms": times[min(len(times) - 1, int(len(times) * 0.99))],
            "verdict": str(verdict.action), "hits": [h.rule for h in verdict.hits],
            "language": verdict.language, "purpose": verdict.purpose}


def corpus_rows(engine: PolicyEngine, runs: int) -> list[dict[str, Any]]:
    from tests.corpus.labels import CORPUS, load

    groups: dict[tuple[str, str], list[tuple[float, int]]] = defaultdict(list)
    for label in load(CORPUS):
        if not label.benign:
            continue
        raw = label.path.read_bytes()
        kind = "html" if b"text/html" in raw.lower() else "plain"
        times = cpu_times(engine, raw, runs, max(2, runs // 4))
        groups[(label.language, kind)].append((statistics.median(times), len(raw)))
    out = []
    for (lang, kind), items in sorted(groups.items()):
        medians = [m for m, _ in items]
        out.append({"row": f"corpus {lang} {kind}", "messages": len(items),
                    "mean_bytes": round(statistics.mean(b for _, b in items)),
                    "mean_ms": statistics.mean(medians), "max_ms": max(medians), "rules": len(engine.rules)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--rows", default="size,rules,languages")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    args = parser.parse_args()
    groups = set(args.rows.split(","))
    engine = PolicyEngine.load(PolicyConfig(), MarketplaceConfig())
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []

    def show(r: dict[str, Any]) -> None:
        rows.append(r)
        if args.json:
            return
        if "median_ms" in r:
            print(f"{r['row']:<34} {r['bytes']:>7} B {r['rules']:>4} rules  median {r['median_ms']:6.3f} ms"
                  f"  p99 {r['p99_ms']:6.3f} ms  {r['verdict']} ({', '.join(r['hits']) or 'no hits'}),"
                  f" {r['language']}, {r['purpose']}", flush=True)
        else:
            print(f"{r['row']:<34} {r['messages']:>3} msgs {r['mean_bytes']:>6} B  mean {r['mean_ms']:6.3f} ms"
                  f"  max {r['max_ms']:6.3f} ms", flush=True)

    if not args.json:
        print(f"load average: {' '.join(f'{x:.2f}' for x in load)} on {os.cpu_count()} cpus; CPU time per message")
    if "size" in groups:
        show(row("invoice de 4 KB (peer.py)", engine, invoice(0), args.runs))
        show(row("invoice de 100 KB", engine, invoice(100_000), max(20, args.runs // 10)))
        show(row("delivery notice de 4 KB plain", engine, build_plain(), args.runs))
        show(row("HTML + PDF 20 KB", engine, build_message(20_000), args.runs))
        show(row("HTML + PDF 100 KB", engine, build_message(100_000), max(20, args.runs // 5)))
    if "rules" in groups:
        from bench.growth import synthetic_pack

        base = len(engine.rules)
        show(row("invoice de 4 KB, shipped rules", engine, invoice(0), args.runs))
        with tempfile.TemporaryDirectory() as tmp:
            pack = synthetic_pack(Path(tmp) / "pack", base * 9)
            big = PolicyEngine.load(PolicyConfig(local_packs_dir=pack), MarketplaceConfig())
        show(row("invoice de 4 KB, 10x rules", big, invoice(0), args.runs))
    if "languages" in groups:
        for r in corpus_rows(engine, max(5, args.runs // 20)):
            show(r)
    if args.json:
        print(json.dumps({"load": load, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
