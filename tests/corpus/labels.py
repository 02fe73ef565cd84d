"""The corpus labels: reading every ``labels.toml`` under tests/corpus and checking their values.

A label says what the gateway should do with one message, derived from ../shared/AMAZON-RULES.md and
the actions of the shipped rule packs (never from what the engine does today)::

    [[message]]
    file = "de-de/000-invoice.eml"      # relative to the labels.toml
    action = "relay"                    # or a set: "reject|quarantine" where the rules allow either
    purpose = "invoice"
    language = "de"                     # the language the message is written in
    marketplace = "de"                  # the tld of the buyer alias it goes to
    class = "benign"                    # benign | violating
    critical = false                    # critical mail (needs the subject keyword)
    keyword = "Wichtig"                 # optional: the documented keyword for that marketplace
    reply = false                       # a genuine reply in a buyer-initiated thread
    rules = []                          # rules expected to fire, where clear
    violations = []                     # kinds of violation (coupon, shop-link, wrong-language, ...)
    why = "..."                         # one line
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent

ACTIONS = ("relay", "rewrite", "quarantine", "reject")
PURPOSES = (
    "invoice", "return", "review-request", "delivery-scheduling", "customization", "address-problem",
    "order-problem", "reply", "order-confirmation", "shipping-confirmation", "thank-you", "out-of-stock",
    "promotion", "other",
)
LANGUAGES = ("de", "en", "fr", "it", "es", "ja", "nl", "pl", "sv", "tr", "pt", "ar")
MARKETPLACES = ("com", "ca", "com.mx", "com.br", "co.uk", "de", "fr", "it", "es", "nl", "se", "pl", "com.be",
                "com.tr", "ae", "sa", "eg", "in", "co.jp", "com.au", "sg")
CLASSES = ("benign", "violating")
REQUIRED = ("file", "action", "purpose", "language", "marketplace", "class", "why")


@dataclass(frozen=True)
class Label:
    path: Path
    """The message file."""
    name: str
    """Its path relative to tests/corpus (how reports name it)."""
    actions: frozenset[str]
    purpose: str
    language: str
    marketplace: str
    cls: str
    critical: bool
    keyword: str | None
    reply: bool
    rules: tuple[str, ...]
    violations: tuple[str, ...]
    why: str
    raw: dict[str, object]

    @property
    def benign(self) -> bool:
        return self.cls == "benign"

    @property
    def expected(self) -> str:
        return "|".join(a for a in ACTIONS[::-1] if a in self.actions)


def label_files(root: Path = CORPUS) -> list[Path]:
    return sorted(root.rglob("labels.toml"))


def problems(entry: Mapping[str, object]) -> list[str]:
    """What is wrong with one label entry (empty when it is valid)."""
    out = [f"missing {key}" for key in REQUIRED if key not in entry]
    action = str(entry.get("action", ""))
    if not action or any(a not in ACTIONS for a in action.split("|")):
        out.append(f"action {action!r} is not one of {'|'.join(ACTIONS)} (or a set joined by |)")
    if entry.get("purpose") not in PURPOSES:
        out.append(f"purpose {entry.get('purpose')!r} unknown")
    if entry.get("language") not in LANGUAGES:
        out.append(f"language {entry.get('language')!r} unknown")
    if entry.get("marketplace") not in MARKETPLACES:
        out.append(f"marketplace {entry.get('marketplace')!r} unknown")
    if entry.get("class") not in CLASSES:
        out.append(f"class {entry.get('class')!r} is not benign or violating")
    for key in ("critical", "reply"):
        if key in entry and not isinstance(entry[key], bool):
            out.append(f"{key} must be true or false")
    for key in ("rules", "violations"):
        value = entry.get(key, [])
        if not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            out.append(f"{key} must be a list of strings")
    actions = set(action.split("|"))
    if entry.get("class") == "benign" and actions & {"reject", "quarantine"}:
        out.append("a benign message cannot expect reject or quarantine")
    if entry.get("class") == "violating" and actions & {"relay", "rewrite"}:
        out.append("a violating message cannot expect relay or rewrite")
    if entry.get("class") == "violating" and not entry.get("violations"):
        out.append("a violating message names its violations")
    if entry.get("critical") and entry.get("class") == "benign" and not actions <= {"relay", "rewrite"}:
        out.append("benign critical mail expects relay or rewrite")
    return out


def load(root: Path = CORPUS) -> list[Label]:
    """Every label under ``root``; raises ValueError naming the file and entry on a bad one."""
    labels: list[Label] = []
    seen: set[Path] = set()
    for file in label_files(root):
        data = tomllib.loads(file.read_text(encoding="utf-8"))
        for i, entry in enumerate(data.get("message", [])):
            bad = problems(entry)
            if bad:
                raise ValueError(f"{file}: entry {i + 1} ({entry.get('file')}): {'; '.join(bad)}")
            path = (file.parent / str(entry["file"])).resolve()
            if path in seen:
                raise ValueError(f"{file}: {entry['file']} is labelled twice")
            seen.add(path)
            kw = entry.get("keyword")
            labels.append(Label(
                path=path, name=str(path.relative_to(root)), actions=frozenset(str(entry["action"]).split("|")),
                purpose=str(entry["purpose"]), language=str(entry["language"]),
                marketplace=str(entry["marketplace"]), cls=str(entry["class"]),
                critical=bool(entry.get("critical", False)), keyword=str(kw) if kw else None,
                reply=bool(entry.get("reply", False)), rules=tuple(entry.get("rules", [])),
                violations=tuple(entry.get("violations", [])), why=str(entry["why"]), raw=dict(entry)))
    return labels


def message_files(root: Path = CORPUS) -> list[Path]:
    return sorted(p.resolve() for p in root.rglob("*.eml"))
