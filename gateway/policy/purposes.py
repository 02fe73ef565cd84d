"""A message's purpose (invoice, shipping confirmation, thank-you, review request, ...) from
weighted evidence over the whole message: the purposes and their evidence are data
(policies/purpose.toml), judged against Amazon's permitted list."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.policy.context import Context
from gateway.policy.matchers import run_matcher
from gateway.policy.packs import Purpose


def evidence_key(p: int) -> int:
    """Phrase-index keys of purpose ``p``'s evidence: negative, apart from the rules' indexes."""
    return -1 - p


def judge_purpose(purposes: Sequence[Purpose], gates: Sequence[Sequence[frozenset[int] | None]],
                  ctx: Context) -> tuple[str | None, tuple[tuple[str, float], ...], bool, float]:
    """The purpose (permitted ones first when they reach their threshold), every score, whether
    the purpose is critical, and the critical evidence found at all."""
    scores: list[tuple[Purpose, float, list[str]]] = []
    present = ctx.occurrences.found
    for p, purpose in enumerate(purposes):
        total = 0.0
        labels: list[str] = []
        evidence_gates = gates[p]
        for j, ev in enumerate(purpose.evidence):
            gate = evidence_gates[j]
            if gate is not None and present.isdisjoint(gate):
                continue
            try:
                found = run_matcher((evidence_key(p), j), ev.matcher, ctx)
            except Exception:
                found = None
            if found is not None:
                total += ev.score
                labels.append(ev.label)
        scores.append((purpose, total, labels))
    reached = [(pu, sc) for pu, sc, _ in scores if sc >= pu.threshold]
    permitted = [(pu, sc) for pu, sc in reached if pu.permitted]
    doubtful = {pu.id for pu, sc, _ in scores if pu.permitted and sc >= pu.doubt}
    forbidden = [(pu, sc) for pu, sc in reached
                 if not pu.permitted and not (doubtful - pu.not_saved_by)]
    # A non-permitted purpose that no permitted evidence contradicts decides; otherwise the
    # best permitted one (the benefit of the doubt goes to the seller).
    pool = forbidden or permitted
    # Critical purposes first: a delivery date to agree is critical even when the message
    # also asks for something else.
    best = max(pool, key=lambda item: (item[0].critical, item[1] / item[0].threshold), default=None)
    critical_evidence = sum(max(sc, 0.0) for pu, sc, _ in scores if pu.critical)
    table = tuple((pu.id, sc) for pu, sc, _ in scores if sc)
    critical = any(pu.critical for pu, _ in permitted)
    if best is None:
        return None, table, critical, critical_evidence
    return best[0].id, table, critical, critical_evidence
