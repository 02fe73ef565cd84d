"""Rule packs: TOML files read into ``Rule`` values, with the admin's local packs laid over them.

A pack file::

    [pack]
    description = "What this pack is about"

    [[rules]]
    id = "promotion-coupons"
    description = "..."
    action = "reject"            # or: score = 3
    reason = "Coupons and discounts are marketing ({evidence})"
    applies_to = "all"           # all | proactive | reply
    scope = { marketplaces = ["de"], languages = ["de", "en"] }
    tags = ["review-request"]    # facts a hit adds to the verdict
    examples = { hit = ["promotion/coupon-de.eml"], miss = ["legit/invoice-de.eml"] }

    [[rules.match]]              # any matcher hitting makes the rule hit
    type = "phrases"             # phrases | near | regex | only | check
    phrases.de = ["gutscheincode", "*rabattcode"]

A local pack may add rules, override fields of a rule by its id (only the fields given), disable a
rule with ``enabled = false`` or list ids under a top-level ``disable = [...]``. Every problem is a
``PolicyLoadError`` naming the file, the rule and what is wrong.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import regex

from gateway.errors import GatewayError
from gateway.policy.checks import CHECKS
from gateway.policy.document import Zone
from gateway.policy.phrases import LANGUAGES, Phrase
from gateway.policy.verdict import Action
from gateway.repair import KINDS as REPAIR_KINDS


class PolicyLoadError(GatewayError):
    """A rule pack cannot be used: which file, which rule (if any) and what is wrong."""

    def __init__(self, file: str | Path, rule: str | None, problem: str) -> None:
        self.file = str(file)
        self.rule = rule
        self.problem = problem
        where = f"{self.file}: rule {rule!r}" if rule else self.file
        super().__init__(f"{where}: {problem}")


_ID = regex.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_RULE_KEYS = {"id", "description", "action", "score", "reason", "applies_to", "scope", "tags", "examples",
              "match", "enabled", "smtp_code", "enhanced_status", "rewrite", "repair"}
_REWRITES = ("add-keyword", "remove-keyword")
Rewrite = Literal["add-keyword", "remove-keyword"]
_ACTIONS = {"reject", "quarantine", "rewrite", "relay", "strip"}


@dataclass(frozen=True, slots=True)
class PhraseList:
    by_language: Mapping[str, tuple[Phrase, ...]]

    def phrases(self, languages: frozenset[str] | None) -> list[Phrase]:
        out: list[Phrase] = []
        for lang, items in self.by_language.items():
            if languages is None or lang == "any" or lang in languages:
                out.extend(items)
        return out


@dataclass(frozen=True, slots=True)
class Matcher:
    type: Literal["phrases", "near", "regex", "only", "check"]
    zone: Zone = "all"
    phrases: PhraseList | None = None
    second: PhraseList | None = None
    """near: the other list; only: the filler phrases."""
    unless: PhraseList | None = None
    """Occurrences inside one of these do not count; for ``only``: closings, after which the
    signature starts."""
    within: int = 60
    min_words: int = 3
    patterns: tuple[regex.Pattern[str], ...] = ()
    check: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    item_lines: bool = False
    """Also count occurrences inside order-table line items (product names): off by default."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    description: str
    reason: str
    action: Action | None
    score: float | None
    matchers: tuple[Matcher, ...]
    file: Path
    applies_to: Literal["all", "proactive", "reply"] = "all"
    marketplaces: frozenset[str] | None = None
    languages: frozenset[str] | None = None
    tags: frozenset[str] = frozenset()
    examples_hit: tuple[Path, ...] = ()
    examples_miss: tuple[Path, ...] = ()
    smtp_code: int | None = None
    enhanced_status: str | None = None
    rewrite: Rewrite | None = None
    """What a hit does to the subject: add the marketplace's keyword, or remove every keyword."""
    repair: str | None = None
    """What the ``strip`` action removes for this rule (a gateway.repair kind)."""

    @property
    def uses_checks(self) -> bool:
        return any(m.type == "check" for m in self.matchers)


@dataclass(slots=True)
class _RawRule:
    data: dict[str, Any]
    file: Path
    examples_dir: Path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PolicyLoadError(path, None, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise PolicyLoadError(path, None, f"not UTF-8: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PolicyLoadError(path, None, f"not valid TOML: {exc}") from None


def _pack_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise PolicyLoadError(directory, None, "packs folder does not exist")
    return sorted(p for p in directory.glob("*.toml") if p.is_file())


def _read_pack(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    data = _read_toml(path)
    unknown = set(data) - {"pack", "rules", "disable", "purposes", "keywords"}
    if unknown:
        raise PolicyLoadError(path, None, f"unknown top-level key(s): {', '.join(sorted(unknown))}")
    rules = data.get("rules", [])
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise PolicyLoadError(path, None, "'rules' must be an array of tables ([[rules]])")
    disable = data.get("disable", [])
    if not isinstance(disable, list) or not all(isinstance(d, str) for d in disable):
        raise PolicyLoadError(path, None, "'disable' must be a list of rule ids")
    for rule in rules:
        if not isinstance(rule.get("id"), str) or not rule["id"]:
            raise PolicyLoadError(path, None, "a rule has no 'id'")
    return rules, disable


def _phrase_list(value: Any, file: Path, rule: str, what: str) -> PhraseList:
    if not isinstance(value, dict) or not value:
        raise PolicyLoadError(file, rule, f"{what} must be a table of language = [phrases]")
    by_lang: dict[str, tuple[Phrase, ...]] = {}
    for lang, items in value.items():
        if lang not in LANGUAGES:
            raise PolicyLoadError(file, rule, f"{what}: unknown language {lang!r} "
                                              f"(known: {', '.join(sorted(LANGUAGES))})")
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip("* ") for i in items):
            raise PolicyLoadError(file, rule, f"{what}.{lang} must be a list of non-empty strings")
        phrases = tuple(Phrase.parse(i, lang) for i in items)
        empty = [i for i, p in zip(items, phrases, strict=True) if not p.text]
        if empty:
            raise PolicyLoadError(file, rule, f"{what}.{lang}: phrase {empty[0]!r} has no letters or digits")
        by_lang[lang] = phrases
    return PhraseList(by_lang)


_MATCHER_KEYS: dict[str, set[str]] = {
    "phrases": {"type", "phrases", "unless", "zone", "item_lines"},
    "near": {"type", "phrases", "near", "within", "unless", "zone", "item_lines"},
    "regex": {"type", "patterns", "zone"},
    "only": {"type", "phrases", "filler", "closing", "min_words"},
    "check": {"type", "check", "params"},
}


def _matcher(spec: Any, file: Path, rule: str) -> Matcher:
    if not isinstance(spec, dict):
        raise PolicyLoadError(file, rule, "each [[rules.match]] must be a table")
    kind = spec.get("type")
    if kind not in _MATCHER_KEYS:
        raise PolicyLoadError(file, rule, f"matcher type {kind!r} is not one of {', '.join(_MATCHER_KEYS)}")
    unknown = set(spec) - _MATCHER_KEYS[kind]
    if unknown:
        raise PolicyLoadError(file, rule, f"{kind} matcher: unknown key(s) {', '.join(sorted(unknown))}")
    zone = spec.get("zone", "all")
    if zone not in ("all", "subject", "body"):
        raise PolicyLoadError(file, rule, f"zone must be all, subject or body, not {zone!r}")
    unless = _phrase_list(spec["unless"], file, rule, "unless") if "unless" in spec else None
    item_lines = spec.get("item_lines", False)
    if not isinstance(item_lines, bool):
        raise PolicyLoadError(file, rule, "item_lines must be true or false")
    if kind == "phrases":
        return Matcher("phrases", zone=zone, phrases=_phrase_list(spec.get("phrases"), file, rule, "phrases"),
                       unless=unless, item_lines=item_lines)
    if kind == "near":
        within = spec.get("within", 60)
        if not isinstance(within, int) or within <= 0:
            raise PolicyLoadError(file, rule, "near matcher: 'within' must be a positive number "
                                              "of characters")
        return Matcher("near", zone=zone, phrases=_phrase_list(spec.get("phrases"), file, rule, "phrases"),
                       second=_phrase_list(spec.get("near"), file, rule, "near"), within=within,
                       unless=unless, item_lines=item_lines)
    if kind == "only":
        min_words = spec.get("min_words", 3)
        if not isinstance(min_words, int) or min_words < 0:
            raise PolicyLoadError(file, rule, "only matcher: 'min_words' must be a number >= 0")
        closing = _phrase_list(spec["closing"], file, rule, "closing") if "closing" in spec else None
        return Matcher("only", phrases=_phrase_list(spec.get("phrases"), file, rule, "phrases"),
                       second=_phrase_list(spec.get("filler"), file, rule, "filler"), unless=closing,
                       min_words=min_words)
    if kind == "regex":
        patterns = spec.get("patterns")
        if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) for p in patterns):
            raise PolicyLoadError(file, rule, "regex matcher: 'patterns' must be a list of strings")
        compiled = []
        for p in patterns:
            try:
                compiled.append(regex.compile(p, regex.IGNORECASE | regex.VERSION1))
            except regex.error as exc:
                raise PolicyLoadError(file, rule, f"regex {p!r} does not compile: {exc}") from None
        return Matcher("regex", zone=zone, patterns=tuple(compiled))
    name = spec.get("check")
    if name not in CHECKS:
        raise PolicyLoadError(file, rule, f"unknown check {name!r} (known: {', '.join(sorted(CHECKS))})")
    params = spec.get("params", {})
    if not isinstance(params, dict):
        raise PolicyLoadError(file, rule, "check 'params' must be a table")
    defaults = CHECKS[name].defaults
    merged = dict(defaults)
    for key, value in params.items():
        if key not in defaults:
            allowed = ", ".join(sorted(defaults)) or "none"
            raise PolicyLoadError(file, rule, f"check {name}: unknown parameter {key!r} (allowed: {allowed})")
        expected = type(defaults[key])
        ok = isinstance(value, expected) or (expected is float and isinstance(value, int))
        if not ok or isinstance(value, bool) != isinstance(defaults[key], bool):
            raise PolicyLoadError(file, rule, f"check {name}: parameter {key!r} must be {expected.__name__}")
        merged[key] = value
    return Matcher("check", check=name, params=merged)


def _string_list(value: Any, file: Path, rule: str, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyLoadError(file, rule, f"{what} must be a list of strings")
    return value


def build_rule(raw: _RawRule) -> Rule:
    data, file = raw.data, raw.file
    rid = data["id"]
    if not _ID.match(rid):
        raise PolicyLoadError(file, rid, "id must be kebab-case (lower-case letters, digits, dashes)")
    unknown = set(data) - _RULE_KEYS
    if unknown:
        raise PolicyLoadError(file, rid, f"unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("description", "reason"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PolicyLoadError(file, rid, f"'{key}' is required")
    has_action, has_score = "action" in data, "score" in data
    if has_action == has_score:
        raise PolicyLoadError(file, rid, "give exactly one of 'action' or 'score'")
    action: Action | None = None
    score: float | None = None
    if has_action:
        if data["action"] not in _ACTIONS:
            known = ", ".join(sorted(_ACTIONS))
            raise PolicyLoadError(file, rid, f"action {data['action']!r} is not one of {known}")
        action = Action(data["action"])
    else:
        value = data["score"]
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise PolicyLoadError(file, rid, "score must be a positive number")
        score = float(data["score"])
    applies_to = data.get("applies_to", "all")
    if applies_to not in ("all", "proactive", "reply"):
        raise PolicyLoadError(file, rid, f"applies_to must be all, proactive or reply, not {applies_to!r}")
    scope = data.get("scope", {})
    if not isinstance(scope, dict) or set(scope) - {"marketplaces", "languages"}:
        raise PolicyLoadError(file, rid, "scope takes only 'marketplaces' and 'languages'")
    marketplaces = None
    if "marketplaces" in scope:
        tlds = _string_list(scope["marketplaces"], file, rid, "scope.marketplaces")
        marketplaces = frozenset(t.lower().strip(".") for t in tlds)
    languages = None
    if "languages" in scope:
        languages = frozenset(_string_list(scope["languages"], file, rid, "scope.languages"))
        bad = languages - LANGUAGES
        if bad:
            raise PolicyLoadError(file, rid, f"scope.languages: unknown language(s) {', '.join(sorted(bad))}")
    tags = frozenset(_string_list(data.get("tags", []), file, rid, "tags"))
    matches = data.get("match")
    if not isinstance(matches, list) or not matches:
        raise PolicyLoadError(file, rid, "a rule needs at least one [[rules.match]]")
    matchers = tuple(_matcher(m, file, rid) for m in matches)
    examples = data.get("examples", {})
    if not isinstance(examples, dict) or set(examples) - {"hit", "miss"}:
        raise PolicyLoadError(file, rid, "examples takes only 'hit' and 'miss' lists")
    resolved: dict[str, tuple[Path, ...]] = {}
    for kind in ("hit", "miss"):
        paths = []
        for name in _string_list(examples.get(kind, []), file, rid, f"examples.{kind}"):
            path = raw.examples_dir / name
            if not path.is_file():
                raise PolicyLoadError(file, rid, f"example file {name!r} not found in {raw.examples_dir}")
            paths.append(path)
        resolved[kind] = tuple(paths)
    smtp_code = data.get("smtp_code")
    if smtp_code is not None and (not isinstance(smtp_code, int) or not 500 <= smtp_code <= 599):
        raise PolicyLoadError(file, rid, "smtp_code must be a 5xx code")
    enhanced = data.get("enhanced_status")
    if enhanced is not None and (not isinstance(enhanced, str)
                                 or not regex.fullmatch(r"5\.\d{1,3}\.\d{1,3}", enhanced)):
        raise PolicyLoadError(file, rid, "enhanced_status must look like 5.x.y")
    rewrite = data.get("rewrite")
    if rewrite is not None and rewrite not in _REWRITES:
        raise PolicyLoadError(file, rid, f"rewrite must be one of {', '.join(_REWRITES)}, not {rewrite!r}")
    repair = data.get("repair")
    if repair is not None and repair not in REPAIR_KINDS:
        raise PolicyLoadError(file, rid, f"repair must be one of {', '.join(REPAIR_KINDS)}, not {repair!r}")
    if action is Action.STRIP and repair is None:
        raise PolicyLoadError(file, rid, "action 'strip' needs a 'repair' (what to remove)")
    return Rule(id=rid, description=data["description"].strip(), reason=data["reason"].strip(), action=action,
                score=score, matchers=matchers, file=file, applies_to=applies_to, marketplaces=marketplaces,
                languages=languages, tags=tags, examples_hit=resolved["hit"], examples_miss=resolved["miss"],
                smtp_code=smtp_code, enhanced_status=enhanced, rewrite=rewrite, repair=repair)


def load_rules(packs_dir: Path, local_dir: Path | None = None, disabled: tuple[str, ...] = (),
               actions: Mapping[str, str] | None = None) -> list[Rule]:
    """Read the shipped packs, lay the local packs over them, apply config overrides."""
    raws: dict[str, _RawRule] = {}
    order: list[str] = []
    for path in _pack_files(packs_dir):
        rules, disable = _read_pack(path)
        if disable:
            raise PolicyLoadError(path, None, "'disable' belongs in a local pack, not in the shipped packs")
        for data in rules:
            rid = data["id"]
            if rid in raws:
                raise PolicyLoadError(path, rid, f"duplicate id (first defined in {raws[rid].file.name})")
            raws[rid] = _RawRule(dict(data), path, packs_dir / "examples")
            order.append(rid)
    off: set[str] = set()
    if local_dir is not None:
        for path in _pack_files(local_dir):
            rules, disable = _read_pack(path)
            for rid in disable:
                if rid not in raws:
                    raise PolicyLoadError(path, rid, "cannot disable: no rule has this id")
                off.add(rid)
            for data in rules:
                rid = data["id"]
                if data.get("enabled") is False and set(data) <= {"id", "enabled"}:
                    if rid not in raws:
                        raise PolicyLoadError(path, rid, "cannot disable: no rule has this id")
                    off.add(rid)
                    continue
                if rid in raws:  # override: the fields given replace the shipped ones
                    base = raws[rid]
                    merged = {**base.data, **data}
                    examples_dir = local_dir / "examples" if "examples" in data else base.examples_dir
                    raws[rid] = _RawRule(merged, path, examples_dir)
                else:
                    raws[rid] = _RawRule(dict(data), path, local_dir / "examples")
                    order.append(rid)
    for rid in disabled:
        if rid not in raws:
            raise PolicyLoadError("<config: policy.disabled>", rid, "no rule has this id")
        off.add(rid)
    for rid, act in (actions or {}).items():
        if rid not in raws:
            raise PolicyLoadError("<config: policy.actions>", rid, "no rule has this id")
        if act not in _ACTIONS:
            raise PolicyLoadError("<config: policy.actions>", rid, f"action {act!r} is not valid")
        data = dict(raws[rid].data)
        data.pop("score", None)
        data["action"] = act
        raws[rid] = _RawRule(data, raws[rid].file, raws[rid].examples_dir)
    rules_out: list[Rule] = []
    for rid in order:
        raw = raws[rid]
        if rid in off or raw.data.get("enabled", True) is False:
            continue
        if not isinstance(raw.data.get("enabled", True), bool):
            raise PolicyLoadError(raw.file, rid, "'enabled' must be true or false")
        rules_out.append(build_rule(raw))
    return rules_out
