"""What every fuzz target checks, shared by the hypothesis tests, the corpus replay and atheris.

Each ``check_*`` raises AssertionError (or lets the target's own exception through) when the target
misbehaves; ``keep_crasher`` stores the input in the regression corpus before that happens, so a
finding outlives the run that found it.
"""

from __future__ import annotations

import functools
import hashlib
import re
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from gateway.bounces import analyse, parse_bounce
from gateway.classify import Classifier
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.policy.content import read_message
from gateway.policy.engine import InMemoryPolicyState, PolicyEngine
from gateway.policy.reply import smtp_reject_reply
from gateway.policy.verdict import Action
from gateway.transaction import has_bare_line_ending

CORPUS = Path(__file__).resolve().parent / "corpus"
# PolicyConfig.evaluation_timeout: past it the listener answers 451; a target slower than this hangs.
TIME_LIMIT = PolicyConfig().evaluation_timeout
RECIPIENTS = ["3vqmzxk4lhl9w1b@marketplace.amazon.de", "buyer@example.com", "x+tok@marketplace.amazon.co.jp"]
_REPLY_LINE = re.compile(r"^[45]\d\d[ -][45]\.\d{1,3}\.\d{1,3} [\x20-\x7e]+$")


@functools.cache
def engine() -> PolicyEngine:
    return PolicyEngine.load(PolicyConfig(), MarketplaceConfig())


def keep_crasher(target: str, raw: bytes) -> Path:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"found-{hashlib.sha1(raw).hexdigest()[:16]}.eml"
    path.write_bytes(raw)
    return path


def guarded(target: str, check: Callable[[bytes], None], raw: bytes) -> None:
    started = time.monotonic()
    try:
        check(raw)
    except Exception:
        keep_crasher(target, raw)
        raise
    took = time.monotonic() - started
    if took > TIME_LIMIT:
        keep_crasher(target, raw)
        raise AssertionError(f"{target} took {took:.1f} s (limit {TIME_LIMIT} s)")


def header_fields(raw: bytes) -> list[bytes]:
    """Field names of the header block (continuation lines belong to the field before them)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].strip().lower() for line in head.split(b"\r\n")
            if line and line[:1] not in (b" ", b"\t")]


def check_mime(raw: bytes) -> None:
    content = read_message(raw)
    assert isinstance(content.subject, str)
    assert isinstance(content.body_text, str)


def check_policy(raw: bytes) -> None:
    recipients = Classifier(MarketplaceConfig().tlds).marketplace_recipients(RECIPIENTS)
    eng = engine()
    state = InMemoryPolicyState(aliases={"3vqmzxk4lhl9w1b@marketplace.amazon.de": "optout"})
    for rcpts in (recipients, recipients[:1]):
        verdict = eng.evaluate(raw, rcpts, state)
        assert not any(h.rule == "engine-error" for h in verdict.hits), verdict.hits
        out = eng.apply(raw, verdict)
        assert isinstance(out, bytes)
        if verdict.action is Action.REWRITE:
            # The rewritten Subject must not smuggle in a header or a bare line end.
            assert has_bare_line_ending(out) == has_bare_line_ending(raw)
            added = Counter(header_fields(out)) - Counter(header_fields(raw))
            assert set(added) <= {b"subject"} and added[b"subject"] <= 1, f"rewrite added fields {added}"
        if verdict.action is Action.REJECT:
            reply = smtp_reject_reply(verdict)
            for line in reply.split("\r\n"):
                assert _REPLY_LINE.match(line), repr(line)
                assert len(line) + 2 <= 512


def check_bounce(raw: bytes) -> None:
    # parse_bounce swallows (and logs) its own exceptions; call what it wraps so a swallowed bug
    # (a bounce whose recipients are silently lost) counts as a finding too.
    analyse.analyse(raw)
    report = parse_bounce(raw)
    assert report.kind in {"amazon-optout", "amazon-notice", "dsn", "delay", "not-bounce"}
    for r in report.recipients:
        assert "@" in r.address and not set(r.address) & set("\r\n\x00"), r.address


TARGETS: dict[str, Callable[[bytes], None]] = {"mime": check_mime, "policy": check_policy,
                                                "bounce": check_bounce}
