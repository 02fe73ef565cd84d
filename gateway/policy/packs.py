"""Rule packs in full: the rules (``loader``), the purposes with their weighted evidence, and the
critical keyword table, read from the same TOML files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.policy.loader import (
    _ID,
    Matcher,
    PolicyLoadError,
    Rule,
    _matcher,
    _pack_files,
    _read_toml,
    _string_list,
    load_rules,
)

# --------------------------------------------------------------------------------------------------
# Purposes: what a message is about, from weighted evidence (rspamd-style: scores and a threshold
# beside the matchers, the decision in the rules that read the purpose).


@dataclass(frozen=True, slots=True)
class Evidence:
    score: float
    """Added to the purpose's score when the matcher hits (may be negative: counter-evidence)."""
    matcher: Matcher
    label: str


@dataclass(frozen=True, slots=True)
class Purpose:
    id: str
    description: str
    permitted: bool
    """On Amazon's list of reasons a proactive message may be sent."""
    critical: bool
    """Critical mail (customization, delivery scheduling, address problems): gets the keyword."""
    threshold: float
    evidence: tuple[Evidence, ...]
    file: Path
    doubt: float = 0.0
    """A permitted purpose with at least this score (default: two thirds of the threshold) keeps
    the message from being judged non-permitted."""
    not_saved_by: frozenset[str] = frozenset()
    """Permitted purposes whose evidence does not keep this non-permitted one from counting (an
    out-of-stock notice that mentions the refund is still an out-of-stock notice)."""


@dataclass(frozen=True, slots=True)
class Packs:
    rules: list[Rule]
    purposes: list[Purpose]
    keywords: dict[str, str]
    """Critical subject keyword per marketplace tld (``*``: every other marketplace)."""


_PURPOSE_KEYS = {"id", "description", "permitted", "critical", "threshold", "evidence", "doubt", "not_saved_by"}


def _purpose(data: Any, file: Path) -> Purpose:
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not _ID.match(data["id"]):
        raise PolicyLoadError(file, None, "each [[purposes]] needs a kebab-case 'id'")
    pid = data["id"]
    unknown = set(data) - _PURPOSE_KEYS
    if unknown:
        raise PolicyLoadError(file, pid, f"purpose: unknown key(s) {', '.join(sorted(unknown))}")
    if not isinstance(data.get("description"), str):
        raise PolicyLoadError(file, pid, "purpose: 'description' is required")
    threshold = data.get("threshold")
    if not isinstance(threshold, int | float) or isinstance(threshold, bool) or threshold <= 0:
        raise PolicyLoadError(file, pid, "purpose: 'threshold' must be a positive number")
    for flag in ("permitted", "critical"):
        if not isinstance(data.get(flag, False), bool):
            raise PolicyLoadError(file, pid, f"purpose: '{flag}' must be true or false")
    items = data.get("evidence")
    if not isinstance(items, list) or not items:
        raise PolicyLoadError(file, pid, "purpose: needs at least one [[purposes.evidence]]")
    evidence = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise PolicyLoadError(file, pid, "each [[purposes.evidence]] must be a table")
        spec = dict(item)
        score = spec.pop("score", None)
        label = spec.pop("label", f"evidence {n}")
        if not isinstance(score, int | float) or isinstance(score, bool) or score == 0:
            raise PolicyLoadError(file, pid, f"evidence {n}: 'score' must be a non-zero number")
        if not isinstance(label, str):
            raise PolicyLoadError(file, pid, f"evidence {n}: 'label' must be a string")
        evidence.append(Evidence(float(score), _matcher(spec, file, pid), label))
    doubt = data.get("doubt", threshold * 2 / 3)
    if not isinstance(doubt, int | float) or isinstance(doubt, bool) or doubt <= 0:
        raise PolicyLoadError(file, pid, "purpose: 'doubt' must be a positive number")
    saved = _string_list(data.get("not_saved_by", []), file, pid, "not_saved_by")
    return Purpose(id=pid, description=data["description"].strip(), permitted=bool(data.get("permitted", False)),
                   critical=bool(data.get("critical", False)), threshold=float(threshold),
                   evidence=tuple(evidence), file=file, doubt=float(doubt), not_saved_by=frozenset(saved))


def _keywords(data: Any, file: Path) -> dict[str, str]:
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) and v.strip()
                                             for k, v in data.items()):
        raise PolicyLoadError(file, None, "'keywords' must be a table of marketplace = \"Keyword\"")
    return {k.lower().strip("."): v.strip().removeprefix("[").removesuffix("]") for k, v in data.items()}


def load_packs(packs_dir: Path, local_dir: Path | None = None, disabled: tuple[str, ...] = (),
               actions: Mapping[str, str] | None = None) -> Packs:
    """Rules (see ``load_rules``), purposes and the keyword table; local packs may add purposes,
    replace one by its id, and override keywords."""
    rules = load_rules(packs_dir, local_dir, disabled, actions)
    purposes: dict[str, Purpose] = {}
    keywords: dict[str, str] = {}
    for directory, local in ((packs_dir, False), (local_dir, True)):
        if directory is None:
            continue
        for path in _pack_files(directory):
            data = _read_toml(path)
            items = data.get("purposes", [])
            if not isinstance(items, list):
                raise PolicyLoadError(path, None, "'purposes' must be an array of tables ([[purposes]])")
            for item in items:
                purpose = _purpose(item, path)
                if purpose.id in purposes and not local:
                    raise PolicyLoadError(path, purpose.id, "duplicate purpose id")
                purposes[purpose.id] = purpose
            if "keywords" in data:
                keywords.update(_keywords(data["keywords"], path))
    return Packs(rules=rules, purposes=list(purposes.values()), keywords=keywords)
