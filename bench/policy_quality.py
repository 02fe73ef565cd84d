"""Judgement quality on the labelled evaluation corpus (tests/corpus).

Runs the policy engine over every labelled message the way ``gateway check --json`` does (default
configuration, the shipped rule packs, recipients from To/Cc) and compares the verdict with the
label. The first line is the number that decides whether a seller keeps the gateway switched on:
benign messages refused or held. Then: violations caught, per rule precision / recall / false
positives on benign mail, recall per kind of violation, per language, the critical-keyword check per
language, and the confusion of purposes and languages (when the verdict reports them).

    python bench/policy_quality.py              # the report
    python bench/policy_quality.py --misses     # and every miss with the rules it hit
    python bench/policy_quality.py --json       # all figures as one JSON object
    python bench/policy_quality.py --subprocess # literally run `gateway check --json` per message

The verdict's JSON is read generically: a ``purpose`` or ``language`` field (or a Verdict attribute of
that name) is used when the engine provides it. State for the stateful rules (buyer opted out, the
order already had its review request) comes from the messages' ``X-Example-*`` headers, as for the
rule packs' examples; ``--subprocess`` cannot pass that state, so those few messages then differ.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.corpus.labels import CORPUS, Label, load

Verdict = dict[str, Any]
REFUSED = ("reject", "quarantine")
REPAIRED = "strip"
"""A verdict whose ``strip`` hits were repaired and whose repaired copy passed (as the pipeline
relays it): the violating element does not reach Amazon, so on violating mail it counts as caught."""
HANDLED = (*REFUSED, REPAIRED)

# The engine's purpose names where they differ from the labels' (extend with --purpose-alias).
PURPOSE_ALIASES = {"return-refund": "return", "refund": "return", "fulfilment-problem": "order-problem",
                   "fulfillment-problem": "order-problem", "unexpected-problem": "order-problem"}


# --------------------------------------------------------------------------------------------------
# running the engine


def in_process(config: Path | None) -> tuple[Callable[[bytes], Verdict], Callable[[str], str]]:
    """An evaluator doing what `gateway check` does, plus the engine's keyword table."""
    import email.parser
    import email.policy

    from gateway.config import load_config
    from gateway.policy.content import addresses_in, decode_header_value
    from gateway.policy.engine import PolicyEngine, examples_state
    from gateway.policy.verdict import Action
    from gateway.repair import RepairOptions, repair

    cfg = load_config(config)
    engine = PolicyEngine.load(cfg.policy, cfg.marketplace)

    def evaluate(raw: bytes) -> Verdict:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        addrs: list[str] = []
        for name in ("To", "Cc"):
            for value in headers.get_all(name) or []:
                addrs.extend(addresses_in(decode_header_value(value)))
        extra = {k: decode_header_value(v) for k, v in headers.items() if k.lower().startswith("x-example-")}
        recipients = engine.classifier.marketplace_recipients(addrs)
        state = examples_state(extra)
        verdict = engine.evaluate(raw, recipients, state)
        data: Verdict = dict(verdict.as_json())
        if verdict.action is Action.STRIP:
            # What the pipeline's repair stage does: remove what the strip hits name, evaluate the
            # repaired copy; it relays only if that passes, otherwise the message is held.
            kinds = frozenset(h.repair for h in verdict.hits if h.action is Action.STRIP and h.repair)
            allow = (*cfg.policy.link_allow_domains, *(f"amazon.{tld}" for tld in cfg.marketplace.tlds))
            repaired = repair(raw, RepairOptions(kinds=kinds, allow_domains=allow))
            after = engine.evaluate(repaired.raw, recipients, state) if repaired.changed else None
            if after is None or after.action not in (Action.RELAY, Action.REWRITE):
                data["action"] = "quarantine"
        for key in ("purpose", "language"):
            if key not in data and getattr(verdict, key, None) is not None:
                data[key] = str(getattr(verdict, key))
        return data

    return evaluate, engine.keyword_for


def via_cli(config: Path | None) -> Callable[[Path], Verdict]:
    def evaluate(path: Path) -> Verdict:
        cmd = [sys.executable, "-m", "gateway", "check", "--json", str(path)]
        if config is not None:
            cmd += ["--config", str(config)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if out.returncode != 0:
            return {"action": "error", "hits": [], "subject": "", "error": out.stderr.strip()[:300]}
        result: Verdict = json.loads(out.stdout)
        return result

    return evaluate


# --------------------------------------------------------------------------------------------------
# figures


def pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.1f}%" if d else "n/a"


def hit_rules(v: Verdict) -> list[str]:
    return [str(h.get("rule")) for h in v.get("hits", []) if isinstance(h, dict)]


def has_keyword(subject: str, keyword: str) -> bool:
    return f"[{keyword}]".casefold() in subject.casefold()


def any_keyword(subject: str) -> bool:
    import re

    return bool(re.search(r"[\[［]\s*(wichtig|important|importante|重要|belangrijk|ważne|viktigt|önemli|مهم)\s*[\]］]",
                          subject, re.IGNORECASE))


def reported_purpose(lb: Label, v: Verdict, aliases: dict[str, str]) -> str | None:
    """The engine's purpose in the labels' terms. A genuine reply is judged as a reply whatever it is
    about (Amazon allows any reply in a buyer's thread), so a verdict with ``reply: true`` on a message
    labelled ``reply`` counts as purpose ``reply``."""
    purpose = v.get("purpose")
    if lb.purpose == "reply" and v.get("reply") is True:
        return "reply"
    if purpose is None:
        return None
    return aliases.get(str(purpose), str(purpose))


def analyse(labels: list[Label], verdicts: dict[str, Verdict], keyword_for: Callable[[str], str],
            aliases: dict[str, str] | None = None) -> dict[str, Any]:
    aliases = PURPOSE_ALIASES if aliases is None else aliases
    benign = [lb for lb in labels if lb.benign]
    violating = [lb for lb in labels if not lb.benign]
    act = {lb.name: str(verdicts[lb.name].get("action")) for lb in labels}
    fp = [lb for lb in benign if act[lb.name] in REFUSED]
    caught = [lb for lb in violating if act[lb.name] in HANDLED]
    repaired_benign = [lb for lb in benign if act[lb.name] == REPAIRED]
    exact = [lb for lb in labels if act[lb.name] in lb.actions]
    benign_exact = [lb for lb in benign if act[lb.name] in lb.actions]
    out: dict[str, Any] = {
        "messages": len(labels),
        "benign": len(benign), "violating": len(violating),
        "benign_refused_or_held": len(fp),
        "benign_refused": sum(act[lb.name] == "reject" for lb in fp),
        "benign_held": sum(act[lb.name] == "quarantine" for lb in fp),
        "benign_fp_rate": len(fp) / len(benign) if benign else 0.0,
        "benign_repaired": len(repaired_benign),
        "violations_caught": len(caught),
        "violations_repaired": sum(act[lb.name] == REPAIRED for lb in caught),
        "violation_recall": len(caught) / len(violating) if violating else 0.0,
        "action_exact": len(exact),
        "action_accuracy": len(exact) / len(labels) if labels else 0.0,
        "benign_action_exact": len(benign_exact),
    }
    confusion: Counter[tuple[str, str]] = Counter((lb.expected, act[lb.name]) for lb in labels)
    out["action_confusion"] = [{"expected": e, "actual": a, "count": n} for (e, a), n in sorted(confusion.items())]

    # per rule
    all_rules = sorted({r for lb in labels for r in lb.rules} | {r for v in verdicts.values() for r in hit_rules(v)})
    per_rule = []
    for rule in all_rules:
        expected = [lb for lb in labels if rule in lb.rules]
        hits = [lb for lb in labels if rule in hit_rules(verdicts[lb.name])]
        tp = [lb for lb in hits if rule in lb.rules]
        fp_b = [lb for lb in hits if rule not in lb.rules and lb.benign]
        extra = [lb for lb in hits if rule not in lb.rules and not lb.benign]
        per_rule.append({
            "rule": rule, "expected": len(expected), "hits": len(hits), "tp": len(tp),
            "fn": len(expected) - len(tp), "fp_benign": len(fp_b), "extra_on_violating": len(extra),
            "precision": len(tp) / (len(tp) + len(fp_b)) if tp or fp_b else None,
            "recall": len(tp) / len(expected) if expected else None,
            "benign_fp_rate": len(fp_b) / len(benign) if benign else 0.0,
        })
    out["rules"] = per_rule

    # per violation kind
    kinds: dict[str, list[Label]] = defaultdict(list)
    for lb in violating:
        for kind in lb.violations:
            kinds[kind].append(lb)
    out["violation_kinds"] = [
        {"kind": k, "messages": len(v), "caught": sum(act[lb.name] in HANDLED for lb in v),
         "exact": sum(act[lb.name] in lb.actions for lb in v)} for k, v in sorted(kinds.items())]

    # per language
    langs = sorted({lb.language for lb in labels})
    out["languages"] = [
        {"language": lang,
         "benign": sum(lb.benign for lb in labels if lb.language == lang),
         "benign_refused_or_held": sum(lb.benign and act[lb.name] in REFUSED for lb in labels if lb.language == lang),
         "violating": sum(not lb.benign for lb in labels if lb.language == lang),
         "caught": sum(not lb.benign and act[lb.name] in HANDLED for lb in labels if lb.language == lang),
         "exact": sum(act[lb.name] in lb.actions for lb in labels if lb.language == lang),
         "messages": sum(lb.language == lang for lb in labels)} for lang in langs]

    # per labelled purpose and per sender format (charset / transfer encoding of the text part)
    def group(key: Callable[[Label], str]) -> list[dict[str, Any]]:
        rows: dict[str, list[Label]] = defaultdict(list)
        for lb in labels:
            rows[key(lb)].append(lb)
        return [{"group": g, "messages": len(v), "exact": sum(act[lb.name] in lb.actions for lb in v),
                 "benign": sum(lb.benign for lb in v),
                 "benign_refused_or_held": sum(lb.benign and act[lb.name] in REFUSED for lb in v),
                 "violating": sum(not lb.benign for lb in v),
                 "caught": sum(not lb.benign and act[lb.name] in HANDLED for lb in v)}
                for g, v in sorted(rows.items())]

    out["purposes"] = group(lambda lb: lb.purpose)
    out["formats"] = group(lambda lb: "/".join(str(lb.raw.get("format", "hand-written")).split("/")[1:]) or "hand")

    # critical keyword, per language (benign mail only: refused mail needs no keyword)
    kw_rows = []
    kw_misses = []
    for lang in langs:
        crit = [lb for lb in benign if lb.language == lang and lb.critical]
        ok = 0
        for lb in crit:
            v = verdicts[lb.name]
            keyword = lb.keyword or keyword_for(lb.marketplace)
            subject = str(v.get("subject", ""))
            good = act[lb.name] in ("relay", "rewrite") and has_keyword(subject, keyword) and "［" not in subject
            ok += good
            if not good:
                kw_misses.append({"file": lb.name, "keyword": keyword, "action": act[lb.name], "subject": subject})
        plain = [lb for lb in labels if lb.language == lang and not lb.critical]
        misused = [lb for lb in plain if "keyword-misuse" in lb.violations]
        stripped = sum(not any_keyword(str(verdicts[lb.name].get("subject", ""))) for lb in misused)
        added = [lb.name for lb in plain if lb.benign and any_keyword(str(verdicts[lb.name].get("subject", "")))
                 and not any_keyword(_original_subject(lb))]
        kw_rows.append({"language": lang, "critical": len(crit), "keyword_ok": ok,
                        "misused": len(misused), "misused_stripped": stripped,
                        "keyword_added_to_non_critical": len(added)})
    out["critical_keyword"] = kw_rows
    out["critical_keyword_misses"] = kw_misses

    # purpose and language as the engine sees them
    # a verdict that has the field reports it, even as null ("(none)": the engine could not tell)
    reported = labels if any("purpose" in v for v in verdicts.values()) else []
    if reported:
        pc: Counter[tuple[str, str]] = Counter(
            (lb.purpose, str(reported_purpose(lb, verdicts[lb.name], aliases) or "(none)")) for lb in reported)
        out["purpose_confusion"] = [{"expected": e, "actual": a, "count": n} for (e, a), n in sorted(pc.items())]
        out["purpose_accuracy"] = sum(n for (e, a), n in pc.items() if e == a) / len(reported)
    else:
        out["purpose_confusion"] = None
    reported = labels if any("language" in v for v in verdicts.values()) else []
    if reported:
        lc: Counter[tuple[str, str]] = Counter(
            (lb.language, str(verdicts[lb.name].get("language") or "(none)")) for lb in reported)
        out["language_confusion"] = [{"expected": e, "actual": a, "count": n} for (e, a), n in sorted(lc.items())]
        out["language_accuracy"] = sum(n for (e, a), n in lc.items() if e == a) / len(reported)
    else:
        out["language_confusion"] = None
    out["misses"] = [
        {"file": lb.name, "class": lb.cls, "expected": lb.expected, "actual": act[lb.name], "purpose": lb.purpose,
         "why": lb.why,
         "hits": [{"rule": h.get("rule"), "action": h.get("action"), "evidence": str(h.get("evidence", ""))[:160]}
                  for h in verdicts[lb.name].get("hits", [])]}
        for lb in labels if act[lb.name] not in lb.actions]
    return out


_SUBJECTS: dict[str, str] = {}


def _original_subject(lb: Label) -> str:
    return _SUBJECTS.get(lb.name, "")


def _read_subject(raw: bytes) -> str:
    import email.header
    import email.parser
    import email.policy

    head = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    value = head.get("Subject", "")
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:
        return str(value)


# --------------------------------------------------------------------------------------------------
# report


def fmt_ratio(value: float | None) -> str:
    return "   -  " if value is None else f"{100 * value:5.1f}%"


def report(fig: dict[str, Any], show_misses: bool, command: str) -> str:
    lines = [
        f"Benign messages refused or held: {fig['benign_refused_or_held']} of {fig['benign']} "
        f"({pct(fig['benign_refused_or_held'], fig['benign'])}; {fig['benign_refused']} refused, "
        f"{fig['benign_held']} held; {fig['benign_repaired']} relayed after a repair)",
        f"Violations caught (refused, held, or repaired before relaying): {fig['violations_caught']} of "
        f"{fig['violating']} ({pct(fig['violations_caught'], fig['violating'])}; "
        f"{fig['violations_repaired']} repaired)",
        f"Action as labelled: {fig['action_exact']} of {fig['messages']} "
        f"({pct(fig['action_exact'], fig['messages'])}); "
        f"benign {fig['benign_action_exact']} of {fig['benign']}",
        f"Corpus: {fig['messages']} messages, {fig['benign']} benign, {fig['violating']} violating "
        f"({command}; {fig['seconds']:.1f} s)",
        "",
        "Action confusion (expected -> actual):",
    ]
    for row in fig["action_confusion"]:
        mark = "" if row["actual"] in row["expected"].split("|") else "   <- miss"
        lines.append(f"  {row['expected']:<22} -> {row['actual']:<11} {row['count']:>4}{mark}")
    lines += ["", "Per rule (TP: hit where labelled; FP: hit on benign mail not labelled with the rule; "
                  "extra: hit on violating mail not labelled):",
              f"  {'rule':<28} {'exp':>4} {'hits':>5} {'TP':>4} {'FN':>4} {'FP':>4} {'extra':>5} "
              f"{'prec':>7} {'recall':>7} {'benign FP':>9}"]
    for r in fig["rules"]:
        lines.append(f"  {r['rule']:<28} {r['expected']:>4} {r['hits']:>5} {r['tp']:>4} {r['fn']:>4} "
                     f"{r['fp_benign']:>4} {r['extra_on_violating']:>5} {fmt_ratio(r['precision']):>7} "
                     f"{fmt_ratio(r['recall']):>7} {fmt_ratio(r['benign_fp_rate']):>9}")
    lines += ["", "Recall per kind of violation (caught = refused, held or repaired; exact = the labelled action):",
              f"  {'kind':<24} {'n':>4} {'caught':>7} {'exact':>6}"]
    for k in fig["violation_kinds"]:
        lines.append(f"  {k['kind']:<24} {k['messages']:>4} {k['caught']:>7} {k['exact']:>6}")
    lines += ["", "Per language:",
              f"  {'lang':<5} {'msgs':>5} {'benign':>7} {'FP':>4} {'viol':>5} {'caught':>7} {'exact':>6}"]
    for r in fig["languages"]:
        lines.append(f"  {r['language']:<5} {r['messages']:>5} {r['benign']:>7} {r['benign_refused_or_held']:>4} "
                     f"{r['violating']:>5} {r['caught']:>7} {r['exact']:>6}")
    for title, key in (("Per labelled purpose", "purposes"),
                       ("Per charset/transfer encoding of the text", "formats")):
        lines += ["", f"{title}:",
                  f"  {'':<28} {'msgs':>5} {'exact':>6} {'benign':>7} {'FP':>4} {'viol':>5} {'caught':>7}"]
        for r in fig[key]:
            lines.append(f"  {r['group']:<28} {r['messages']:>5} {r['exact']:>6} {r['benign']:>7} "
                         f"{r['benign_refused_or_held']:>4} {r['violating']:>5} {r['caught']:>7}")
    lines += ["", "Critical keyword per language (benign critical mail leaves with the marketplace's keyword; "
                  "misused keywords are removed):",
              f"  {'lang':<5} {'critical':>8} {'kw ok':>6} {'misused':>8} {'stripped':>9} {'added wrongly':>14}"]
    for r in fig["critical_keyword"]:
        lines.append(f"  {r['language']:<5} {r['critical']:>8} {r['keyword_ok']:>6} {r['misused']:>8} "
                     f"{r['misused_stripped']:>9} {r['keyword_added_to_non_critical']:>14}")
    lines.append("")
    if fig["purpose_confusion"] is None:
        lines.append("Purpose: the engine reports no purpose yet (no `purpose` in the verdict JSON).")
    else:
        lines.append(f"Purpose accuracy: {100 * fig['purpose_accuracy']:.1f}%; confusion (expected -> reported; "
                     f"engine names mapped: {', '.join(f'{k}={v}' for k, v in sorted(PURPOSE_ALIASES.items()))}; "
                     "a genuine reply counts as 'reply'):")
        for row in fig["purpose_confusion"]:
            lines.append(f"  {row['expected']:<22} -> {row['actual']:<22} {row['count']:>4}")
    if fig["language_confusion"] is None:
        lines.append("Language: the engine reports no language yet (no `language` in the verdict JSON).")
    else:
        lines.append(f"Language accuracy: {100 * fig['language_accuracy']:.1f}%; confusion (expected -> reported):")
        for row in fig["language_confusion"]:
            if row["expected"] != row["actual"]:
                lines.append(f"  {row['expected']:<5} -> {row['actual']:<5} {row['count']:>4}")
    if show_misses:
        lines += ["", f"Misses ({len(fig['misses'])}):"]
        for m in fig["misses"]:
            lines.append(f"  {m['file']}  [{m['class']}, {m['purpose']}] expected {m['expected']}, got {m['actual']}")
            lines.append(f"      why: {m['why']}")
            for h in m["hits"]:
                lines.append(f"      - {h['rule']} [{h['action']}]: {h['evidence']}")
        if fig["critical_keyword_misses"]:
            lines += ["", "Critical mail without the right keyword:"]
            for m in fig["critical_keyword_misses"]:
                lines.append(f"  {m['file']}  needs [{m['keyword']}], got {m['action']}: {m['subject']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", action="store_true", help="list every miss with its rule hits")
    parser.add_argument("--json", action="store_true", help="print all figures as one JSON object")
    parser.add_argument("--config", type=Path, default=None, help="gateway configuration (default: built-in)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus folder (default: tests/corpus)")
    parser.add_argument("--subprocess", action="store_true", help="run `gateway check --json` for each message")
    parser.add_argument("--purpose-alias", action="append", default=[], metavar="ENGINE=LABEL",
                        help="count the engine's purpose ENGINE as the label purpose LABEL (repeatable)")
    args = parser.parse_args()
    labels = load(args.corpus.resolve())
    evaluate, keyword_for = in_process(args.config)
    cli = via_cli(args.config) if args.subprocess else None
    verdicts: dict[str, Verdict] = {}
    started = time.perf_counter()
    for lb in labels:
        raw = lb.path.read_bytes()
        _SUBJECTS[lb.name] = _read_subject(raw)
        verdicts[lb.name] = cli(lb.path) if cli else evaluate(raw)
    seconds = time.perf_counter() - started
    aliases = dict(PURPOSE_ALIASES)
    for item in args.purpose_alias:
        engine_name, _, label_name = item.partition("=")
        if not label_name:
            parser.error(f"--purpose-alias {item!r}: expected ENGINE=LABEL")
        aliases[engine_name.strip()] = label_name.strip()
    fig = analyse(labels, verdicts, keyword_for, aliases)
    fig["seconds"] = seconds
    command = "gateway check --json per message" if args.subprocess else "engine in process, as gateway check"
    text = json.dumps(fig, ensure_ascii=False, indent=1) if args.json else report(fig, args.misses, command)
    try:
        print(text)
    except BrokenPipeError:  # piped into head
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
