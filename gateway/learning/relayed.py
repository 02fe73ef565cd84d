"""What the gateway decided for each relayed marketplace message, with the pack versions it used."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from gateway.policy.verdict import Verdict
from gateway.store.base import HitRecord, RelayedMessage, Store


@lru_cache(maxsize=256)
def _file_version(path: Path, mtime_ns: int, size: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def pack_version(path: Path) -> str:
    """A pack file's version: the start of its SHA-256 (the same file always has the same one)."""
    try:
        stat = path.stat()
        return _file_version(path, stat.st_mtime_ns, stat.st_size)
    except OSError:
        return "unreadable"


@dataclass(frozen=True, slots=True)
class PackIndex:
    """Which pack each rule of an engine comes from, and the packs' versions."""

    rule_pack: dict[str, str]
    versions: tuple[tuple[str, str], ...]

    def pack_of(self, rule: str) -> str:
        """The pack of ``rule``; the gateway's own checks (sender-not-registered, template-disagreed,
        tenant-restricted, score-threshold) belong to no pack: "gateway"."""
        return self.rule_pack.get(rule, "gateway")


_EMPTY = PackIndex({}, ())


_INDEXES: dict[int, tuple[object, PackIndex]] = {}


def pack_index(policy: object) -> PackIndex:
    """The packs of a policy engine (``PolicyEngine.rules``; anything else has none), read once per
    engine: a reload builds a new engine, whose packs are read (and versioned) again."""
    cached = _INDEXES.get(id(policy))
    if cached is not None and cached[0] is policy:
        return cached[1]
    index = _pack_index(policy)
    if len(_INDEXES) >= 32:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[id(policy)] = (policy, index)  # (keeps the id from being reused meanwhile)
    return index


def _pack_index(policy: object) -> PackIndex:
    rules = getattr(policy, "rules", None)
    if not rules:
        return _EMPTY
    rule_pack: dict[str, str] = {}
    files: dict[str, Path] = {}
    for rule in rules:
        file = getattr(rule, "file", None)
        rule_id = getattr(rule, "id", None)
        if isinstance(file, Path) and isinstance(rule_id, str):
            rule_pack[rule_id] = file.stem
            files.setdefault(file.stem, file)
    return PackIndex(rule_pack, tuple(sorted((name, pack_version(path)) for name, path in files.items())))


async def record_relayed(store: Store, *, queue_id: str, message_id: str, tenant: str, verdict: Verdict,
                         shadow: bool, aliases: Sequence[str], order_ids: Sequence[str], policy: object) -> None:
    """Keep what the gateway decided about a relayed message (the pipeline's record stage)."""
    await store.record_relayed(relayed_message(queue_id=queue_id, message_id=message_id, tenant=tenant,
                                               verdict=verdict, shadow=shadow, aliases=aliases,
                                               order_ids=order_ids, policy=policy))


def relayed_message(*, queue_id: str, message_id: str, tenant: str, verdict: Verdict, shadow: bool,
                    aliases: Sequence[str], order_ids: Sequence[str], policy: object) -> RelayedMessage:
    """The record of a relayed message. Its template fingerprint is the one the policy engine made
    (``Verdict.fingerprint``; none without an engine); cheap: no message is read again here."""
    packs = pack_index(policy)
    action = f"would-{verdict.action}" if shadow else str(verdict.action)
    return RelayedMessage(
        queue_id=queue_id, message_id=message_id, subject=verdict.subject, action=action,
        hits=tuple(HitRecord(h.rule, str(h.action), h.reason, h.evidence, packs.pack_of(h.rule))
                   for h in verdict.hits),
        packs=packs.versions, fingerprint=verdict.fingerprint, order_ids=tuple(order_ids), aliases=tuple(aliases),
        tenant=tenant)
