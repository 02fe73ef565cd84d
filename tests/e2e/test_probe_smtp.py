"""The probe corpora (tests/corpus/probe, probe2, probe3) sent over SMTP to a real gateway, as a seller's ERP sends it:
no benign message is refused or held, no violating one is relayed as it was written.

The same judgement as bench/policy_quality.py, but through the listener, the pipeline's stages
(classify, evaluate, repair, reserve, store) and the store, with each message's example state
(opted-out alias, review already requested) seeded first and undone after."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.app import Gateway
from gateway.orderids import order_ids_in_message
from gateway.policy.examples import read_example
from tests.corpus.labels import CORPUS, load
from tests.e2e.test_check_matches_smtp import crlf, envelope, seed, served, smtp, unseed

__all__ = ["served"]  # the gateway fixture of test_check_matches_smtp, used here by name

PROBES = {"probe": (load(CORPUS / "probe"), 180), "probe2": (load(CORPUS / "probe2"), 150),
          "probe3": (load(CORPUS / "probe3"), 85)}
REPAIRED = {"tracking-pixel", "remote-image", "logo-link", "emoji", "optout-link"}
"""The shipped rules whose action is strip: their element is removed and the rest relayed."""


@pytest.mark.parametrize("corpus", sorted(PROBES))
async def test_probe_corpus_over_smtp(served: Any, corpus: str) -> None:
    gw: Gateway = served[0]
    labels, size = PROBES[corpus]
    assert gw.store is not None and gw.processor is not None and len(labels) >= size
    wrong: list[str] = []
    for label in labels:
        raw = crlf(read_example(label.path))
        sender, rcpts, extra = envelope(raw)
        aliases = await seed(gw.store, extra)
        before = len(await gw.store.decisions())
        for _attempt in range(3):  # a 4xx is a deferral the sending MTA retries (an evaluation timeout
            code = await smtp(gw, raw, sender, rcpts)  # while the policy workers warm up on a busy machine)
            await gw.processor.drain()
            if not 400 <= code < 500:
                break
        recorded = await gw.store.decisions()
        decided = recorded[: len(recorded) - before]
        action = decided[0].action if decided else "none"
        relayed = code == 250 and action in ("relay", "rewrite")
        if label.benign and not relayed:
            wrong.append(f"{label.name}: benign, {code} {action}")
        # A violating message relayed only after a repair (pixel, emoji stripped) names the rules.
        if not label.benign and relayed and not REPAIRED & set(decided[0].rules):
            wrong.append(f"{label.name}: violating, relayed untouched")
        await unseed(gw.store, aliases, order_ids_in_message(raw))
    assert wrong == []
