"""The policy engine: every rule runs on the decoded message, then one decision is made.

``PolicyEngine.evaluate`` is synchronous and CPU-bound (the server calls it in a worker thread). It
never raises on bad input: a message it cannot read still gets a verdict. ``apply`` turns a REWRITE
verdict into the bytes to relay (only the Subject header changes); any other verdict leaves the
bytes untouched.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import regex

from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import MarketplaceConfig, PolicyConfig
from gateway.datafiles import shipped_policies
from gateway.fingerprint import text_fingerprint
from gateway.message.mime import replace_subject
from gateway.orderids import find_order_ids, mask_order_ids
from gateway.policy.checks import CHECKS
from gateway.policy.content import (
    MessageContent,
    decode_header_value,
    parse_headers,
    read_message,
    strip_invisible,
)
from gateway.policy.language import detect as detect_language
from gateway.policy.language import marketplace_languages
from gateway.policy.loader import Matcher, PolicyLoadError, Rule
from gateway.policy.matchers import Context, Document, Key, PhraseIndex, content_only
from gateway.policy.packs import Purpose, load_packs
from gateway.policy.state import InMemoryPolicyState, PolicyState
from gateway.policy.verdict import Action, Hit, Verdict, most_severe

__all__ = ["DEFAULT_KEYWORDS", "InMemoryPolicyState", "PolicyEngine", "PolicyLoadError", "PolicyState"]

DEFAULT_PACKS_DIR = shipped_policies()

# The subject keyword that lets critical mail through a buyer's opt-out, per marketplace tld: used
# when the packs have no [keywords] table (policies/critical.toml has one).
DEFAULT_KEYWORDS: dict[str, str] = {
    "de": "Wichtig",
    "com": "Important", "co.uk": "Important", "ca": "Important", "com.au": "Important", "in": "Important",
    "sg": "Important", "ae": "Important",
    "es": "Importante", "com.mx": "Importante", "it": "Importante",
    "fr": "Important",
    "co.jp": "重要",
}
FALLBACK_KEYWORD = "Important"

# Amazon's own carrier and marketplace hosts that a message may need to link to.
DEFAULT_ALLOW_DOMAINS: tuple[str, ...] = ("amazon.*", "amzn.*", "media-amazon.com", "ssl-images-amazon.com",
                                          "images-amazon.com", "amazon-adsystem.com")

_THREAD_TOKEN = regex.compile(r"\[commMgrTok:[^\]\s]{1,200}\]")
# A message id from Amazon's side: its mail systems or a buyer alias of any marketplace.
_AMAZON_MESSAGE_ID = regex.compile(
    r"(?i)@(?:[a-z0-9-]+\.)*(?:amazon\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})|amazonses\.com)\s*>")


def keyword_pattern(keyword: str) -> regex.Pattern[str]:
    """The keyword as Amazon reads it: in half-width square brackets, any case."""
    return regex.compile(r"\[\s*" + regex.escape(keyword) + r"\s*\]", regex.IGNORECASE)


def keyword_variants(keyword: str) -> regex.Pattern[str]:
    """The keyword in any bracket a seller's system may write: half- or full-width square
    brackets, lenticular or tortoise-shell brackets (［重要］, 【重要】, 〔重要〕)."""
    return regex.compile(r"[\[［【〔]\s*" + regex.escape(keyword) + r"\s*[\]］】〕]", regex.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Decided:
    hit: Hit
    rule: Rule


class PolicyEngine:
    # Its verdicts' order_ids are all the message's order ids (Subject and text, by
    # gateway.orderids): the pipeline records them without reading the message again.
    reads_order_ids = True

    def __init__(self, rules: Sequence[Rule], config: PolicyConfig, marketplace: MarketplaceConfig,
                 purposes: Sequence[Purpose] = (), keywords: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.marketplace_config = marketplace
        self.classifier = Classifier(marketplace.tlds, marketplace.domain_prefix)
        # Rules that only read text run first: their tags (critical, review-request) feed the checks.
        self.rules: tuple[Rule, ...] = tuple(sorted(rules, key=lambda r: r.uses_checks))
        self.purposes: tuple[Purpose, ...] = tuple(purposes)
        table = dict(keywords) if keywords else dict(DEFAULT_KEYWORDS)
        self.fallback_keyword = table.pop("*", FALLBACK_KEYWORD)
        self.keywords: dict[str, str] = table
        for tld, kw in config.critical_keywords.items():
            self.keywords[tld.lower().strip(".")] = kw.strip().removeprefix("[").removesuffix("]")
        self._keyword_patterns = {tld: keyword_pattern(kw) for tld, kw in self.keywords.items()}
        self._fallback_pattern = keyword_pattern(self.fallback_keyword)
        every = sorted(set(self.keywords.values()) | {self.fallback_keyword})
        self._all_keyword_patterns = tuple(keyword_variants(kw) for kw in every)
        self.allow_domains = DEFAULT_ALLOW_DOMAINS + tuple(config.link_allow_domains)
        self._index = PhraseIndex()
        for i, rule in enumerate(self.rules):
            for j, matcher in enumerate(rule.matchers):
                self._index_matcher((i, j), matcher, rule.languages)
        for p, purpose in enumerate(self.purposes):
            for j, ev in enumerate(purpose.evidence):
                self._index_matcher((_purpose_index(p), j), ev.matcher, None)
        self._index.build()
        # Rules and purpose evidence that only read phrases are decided without running them when
        # none of their (first) phrases occur: most rules, for most messages.
        self._rule_gates = tuple(self._gate([((i, j), m) for j, m in enumerate(rule.matchers)])
                                 for i, rule in enumerate(self.rules))
        self._evidence_gates = tuple(tuple(self._gate([((_purpose_index(p), j), ev.matcher)])
                                           for j, ev in enumerate(purpose.evidence))
                                     for p, purpose in enumerate(self.purposes))

    def _gate(self, matchers: Sequence[tuple[tuple[int, int], Matcher]]) -> frozenset[int] | None:
        """The phrase ids without which none of ``matchers`` can hit; None when one of them reads
        more than phrases (a check, a regex)."""
        if any(m.type not in ("phrases", "near", "only") for _, m in matchers):
            return None
        return self._index.pids_of([(key[0], key[1], 0) for key, _ in matchers])

    def _index_matcher(self, key: tuple[int, int], matcher: Matcher, languages: frozenset[str] | None) -> None:
        for slot, plist in enumerate((matcher.phrases, matcher.second, matcher.unless)):
            if plist is not None:
                for phrase in plist.phrases(languages):
                    self._index.add((key[0], key[1], slot), phrase)

    @classmethod
    def load(cls, config: PolicyConfig, marketplace: MarketplaceConfig) -> PolicyEngine:
        """Read the packs; raises PolicyLoadError(file, rule, problem)."""
        packs_dir = config.packs_dir if config.packs_dir is not None else DEFAULT_PACKS_DIR
        packs = load_packs(packs_dir, config.local_packs_dir, config.disabled, config.actions)
        rules = packs.rules
        # The action for a keyword on non-critical mail is a setting of its own.
        misused = Action(config.misused_keyword_action)
        rules = [dataclasses.replace(r, action=misused)
                 if r.rewrite == "remove-keyword" and r.id not in config.actions and r.score is None else r
                 for r in rules]
        if not config.enabled:
            return cls([], config, marketplace, (), packs.keywords)
        return cls(rules, config, marketplace, packs.purposes, packs.keywords)

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    # ----------------------------------------------------------------------------------------------

    def keyword_for(self, marketplace: str | None) -> str:
        return self.keywords.get(marketplace or "", self.fallback_keyword)

    def evaluate(self, raw: bytes, recipients: Sequence[MarketplaceRecipient],
                 state: PolicyState | None = None, *, content: MessageContent | None = None) -> Verdict:
        """The verdict for ``raw``. ``content``: the message as ``gateway.message.read_message``
        already read it (parse once: the pipeline shares one reading between the policy, order
        ids and records); it must be the reading of these very bytes. The engine does not change
        it, except for caching derived text on it (``body_text``)."""
        try:
            if content is None:
                content = read_message(bytes(raw))
        except Exception as exc:  # read_message does not raise; this is the last line of defence
            return Verdict(action=Action.QUARANTINE,
                           hits=(Hit("engine-error", Action.QUARANTINE, "The message could not be read",
                                     str(exc)[:200]),))
        try:
            verdict = self._evaluate(content, recipients, state)
            # The template fingerprint from the text read once, here in the evaluating worker.
            return dataclasses.replace(verdict, fingerprint=text_fingerprint(content.body_text).encode())
        except Exception as exc:
            return Verdict(action=Action.QUARANTINE, subject=content.subject,
                           hits=(Hit("engine-error", Action.QUARANTINE,
                                     "The policy engine failed on this message; held for review",
                                     f"{type(exc).__name__}: {exc}"[:200]),))

    def is_reply(self, content: MessageContent, recipients: Sequence[MarketplaceRecipient] = ()) -> bool:
        """A reply in a buyer-initiated thread: In-Reply-To or References name a message from
        Amazon's side (a buyer alias or Amazon's mail systems), or the subject or text carries
        Amazon's thread token ``[commMgrTok:...]``. (A ``+token`` recipient is an alias form, not
        proof of a thread.)
        An "AW:" subject or threading headers that point at the seller's own mail are not enough."""
        if _AMAZON_MESSAGE_ID.search(content.in_reply_to + " " + content.references + " "):
            return True
        return bool(_THREAD_TOKEN.search(content.subject) or _THREAD_TOKEN.search(content.body_text))

    def _purpose_of(self, ctx: Context) -> tuple[str | None, tuple[tuple[str, float], ...], bool, float]:
        """The purpose (permitted ones first when they reach their threshold), every score, whether
        the purpose is critical, and the critical evidence found at all."""
        scores: list[tuple[Purpose, float, list[str]]] = []
        present = ctx.occurrences.found
        for p, purpose in enumerate(self.purposes):
            total = 0.0
            labels: list[str] = []
            gates = self._evidence_gates[p]
            for j, ev in enumerate(purpose.evidence):
                gate = gates[j]
                if gate is not None and present.isdisjoint(gate):
                    continue
                try:
                    found = self._run_matcher((_purpose_index(p), j), ev.matcher, ctx)
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

    def _evaluate(self, content: MessageContent, recipients: Sequence[MarketplaceRecipient],
                  state: PolicyState | None) -> Verdict:
        subject = content.subject
        full_text = content.body_text
        order_ids = find_order_ids(subject + "\n" + full_text)
        reply = self.is_reply(content, recipients)
        if not recipients:
            return Verdict(action=Action.RELAY, subject=subject, reply=reply, order_ids=order_ids)
        marketplace = recipients[0].marketplace
        own_text = content.own_text() if reply else full_text
        doc = Document.build(subject, own_text)
        keyword = self.keyword_for(marketplace)
        detected = detect_language(own_text)
        stem_languages = tuple(dict.fromkeys(
            lang for lang in (detected.language, *marketplace_languages(marketplace)[:1]) if lang))
        ctx = Context(
            content=content, subject=subject, own_text=own_text, doc=doc, reply=reply,
            marketplace=marketplace, recipients=recipients, state=state, order_ids=order_ids,
            keyword=f"[{keyword}]" if self.config.keyword_override else None,
            keyword_pattern=self._keyword_patterns.get(marketplace, self._fallback_pattern),
            keyword_patterns=self._all_keyword_patterns, allow_domains=self.allow_domains,
            masked_subject=mask_order_ids(strip_invisible(subject)),
            masked_text=mask_order_ids(strip_invisible(own_text)),
            language=detected.language, language_percent=detected.percent,
        )
        ctx.occurrences = self._index.scan(doc, stem_languages)
        purpose, purpose_scores, purpose_critical, critical_evidence = self._purpose_of(ctx)
        ctx.purpose = purpose
        ctx.critical_evidence = critical_evidence
        if purpose_critical:
            ctx.critical = True
        decided: list[_Decided] = []
        misses: list[str] = []
        limit_rules: dict[str, str] = {}  # counter tag -> the rule that set its limit
        score = 0.0
        present = ctx.occurrences.found
        for i, rule in enumerate(self.rules):
            if rule.marketplaces is not None and marketplace not in rule.marketplaces:
                continue
            if (rule.applies_to == "proactive" and reply) or (rule.applies_to == "reply" and not reply):
                continue
            gate = self._rule_gates[i]
            if gate is not None and present.isdisjoint(gate):
                misses.append(rule.id)
                continue
            limits_before = set(ctx.limits)
            try:
                evidence = self._run_rule(i, rule, ctx)
            except Exception as exc:
                decided.append(_Decided(Hit(rule.id, Action.QUARANTINE,
                                            "This rule failed on the message; held for review",
                                            f"{type(exc).__name__}: {exc}"[:200]), rule))
                continue
            limit_rules.update(dict.fromkeys(ctx.limits.keys() - limits_before, rule.id))
            if evidence is None:
                misses.append(rule.id)
                continue
            ctx.tags.update(rule.tags)
            if "critical" in rule.tags:
                ctx.critical = True
            reason = _format_reason(rule.reason, evidence=evidence, keyword=ctx.keyword or f"[{keyword}]",
                                    marketplace=marketplace, order_id=order_ids[0] if order_ids else "",
                                    purpose=purpose or "", language=detected.language or "")
            if rule.score is not None:
                score += rule.score
                decided.append(_Decided(Hit(rule.id, Action.RELAY, f"{reason} (score {rule.score:g})",
                                            evidence[:300]), rule))
            else:
                assert rule.action is not None
                decided.append(_Decided(Hit(rule.id, rule.action, reason, evidence[:300],
                                            repair=rule.repair or ""), rule))
        if score >= self.config.score_reject:
            decided.append(_Decided(Hit("score-threshold", Action.REJECT,
                                        f"Scored rules add up to {score:g} "
                                        f"(reject at {self.config.score_reject:g})",
                                        ", ".join(d.hit.rule for d in decided if d.rule.score)), _SCORE_RULE))
        elif score >= self.config.score_quarantine:
            decided.append(_Decided(Hit("score-threshold", Action.QUARANTINE,
                                        f"Scored rules add up to {score:g} "
                                        f"(quarantine at {self.config.score_quarantine:g})",
                                        ", ".join(d.hit.rule for d in decided if d.rule.score)), _SCORE_RULE))
        hits = tuple(d.hit for d in decided)
        action = most_severe([h.action for h in hits])
        new_subject = subject
        rewrites: list[str] = []
        for d in decided:
            if d.rule.rewrite == "add-keyword" and d.hit.action is not Action.RELAY:
                new_subject = self._with_keyword(new_subject, keyword)
                rewrites.append(f"add-keyword [{keyword}]")
            elif d.rule.rewrite == "remove-keyword":
                for pattern in self._all_keyword_patterns:
                    new_subject = pattern.sub("", new_subject)
                new_subject = regex.sub(r"\s{2,}", " ", new_subject).strip()
                rewrites.append("remove-keyword")
        smtp_code: int | None = None
        enhanced: str | None = None
        for d in decided:
            if d.hit.action is action and d.rule.smtp_code is not None:
                smtp_code, enhanced = d.rule.smtp_code, d.rule.enhanced_status
                break
        return Verdict(action=action, hits=hits, misses=tuple(misses), subject=new_subject,
                       critical=ctx.critical, reply=reply, marketplace=marketplace, order_ids=order_ids,
                       tags=frozenset(ctx.tags), counter_limits=tuple(sorted(ctx.limits.items())),
                       counter_rules=tuple(sorted(limit_rules.items())),
                       smtp_code=smtp_code, enhanced_status=enhanced, language=detected.language,
                       purpose=purpose, purpose_scores=purpose_scores,
                       original_subject=subject if new_subject != subject else None,
                       subject_rewrites=tuple(rewrites))

    def _with_keyword(self, subject: str, keyword: str) -> str:
        """The subject with the keyword in front, half-width; the same keyword written in other
        brackets (［重要］, 【重要】) is replaced, not doubled."""
        subject = regex.sub(r"\s{2,}", " ", keyword_variants(keyword).sub("", subject)).strip()
        return f"[{keyword}] {subject}".rstrip()

    def _run_rule(self, index: int, rule: Rule, ctx: Context) -> str | None:
        for j, matcher in enumerate(rule.matchers):
            evidence = self._run_matcher((index, j), matcher, ctx)
            if evidence is not None:
                return evidence
        return None

    def _run_matcher(self, key: tuple[int, int], m: Matcher, ctx: Context) -> str | None:
        doc = ctx.doc
        occ = ctx.occurrences
        k0: Key = (key[0], key[1], 0)
        k1: Key = (key[0], key[1], 1)
        k2: Key = (key[0], key[1], 2)
        unless = occ.get(k2, [])

        def allowed(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
            out = []
            for s, e in spans:
                if not doc.in_zone(s, m.zone):
                    continue
                if any(us <= s < ue or us < e <= ue for us, ue in unless):
                    continue
                if not m.item_lines and doc.in_item_line(s, e):
                    continue  # a product name on an order line, not the seller's words
                out.append((s, e))
            return out

        if m.type == "phrases":
            spans = allowed(occ.get(k0, []))
            if not spans:
                return None
            start, end = spans[0]
            return f'"{doc.text[start:end]}" in {doc.snippet(start, end)}'

        if m.type == "near":
            first = allowed(occ.get(k0, []))
            if not first:
                return None
            pair = near_pair(first, allowed(occ.get(k1, [])), m.within, doc.subject_end)
            return doc.snippet(*pair, 20) if pair else None
        if m.type == "only":
            return content_only(ctx, {k1}, {k0}, k2, m.min_words)
        if m.type == "regex":
            targets = {"subject": (ctx.subject,), "body": (ctx.own_text,), "all": (ctx.subject, ctx.own_text)}
            for text in targets[m.zone]:
                for pattern in m.patterns:
                    found = pattern.search(text, timeout=1.0)
                    if found:
                        return found.group(0)[:200]
            return None
        return CHECKS[m.check].fn(ctx, m.params)

    # ----------------------------------------------------------------------------------------------

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        """The bytes to relay: the Subject replaced when the rules changed it (a keyword added to
        critical mail, a misused keyword removed: also when a held message is released), otherwise
        the input unchanged."""
        if verdict.action is not Action.REWRITE and not verdict.subject_changed:
            return raw
        head = _HEADER_END.search(raw)
        current = parse_headers(raw[: head.end(1)] if head else raw).get("Subject")
        if current is not None and decode_header_value(current) == verdict.subject:
            return raw  # a rewrite rule that did not touch the subject: keep the bytes exact
        return replace_subject(raw, verdict.subject)


def near_pair(first: list[tuple[int, int]], second: list[tuple[int, int]], within: int,
              subject_end: int) -> tuple[int, int] | None:
    """The span covering the first pair (one occurrence from each list, same zone) whose gap is at
    most ``within`` characters; bisection keeps this fast when both words are frequent."""
    if not second:
        return None
    ordered = sorted(second)
    starts = [s for s, _ in ordered]
    longest = max(e - s for s, e in ordered)
    for s1, e1 in first:
        i = bisect.bisect_left(starts, s1 - within - longest)
        while i < len(ordered) and ordered[i][0] <= e1 + within:
            s2, e2 = ordered[i]
            i += 1
            if (s1 < subject_end) != (s2 < subject_end):
                continue
            gap = s2 - e1 if s2 >= e1 else s1 - e2
            if gap <= within:
                return min(s1, s2), max(e1, e2)
    return None


def _purpose_index(p: int) -> int:
    """Phrase-index keys of purpose evidence: negative, apart from the rules' indexes."""
    return -1 - p


_SCORE_RULE = Rule(id="score-threshold", description="Sum of scored rules", reason="", action=Action.RELAY,
                   score=None, matchers=(), file=Path("<engine>"))


class _SafeDict(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _format_reason(template: str, **values: str | None) -> str:
    try:
        return template.format_map(_SafeDict({k: v or "" for k, v in values.items()}))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


_HEADER_END = regex.compile(rb"(\r?\n)\r?\n")


def examples_state(headers: Mapping[str, str]) -> InMemoryPolicyState:
    """State for a rule example, from its ``X-Example-*`` headers."""
    state = InMemoryPolicyState()
    for key, value in headers.items():
        k = key.lower()
        if k == "x-example-review-requests":
            for item in value.split(","):
                order, _, count = item.strip().partition("=")
                if order and count.strip().isdigit():
                    state.reviews[order.strip()] = int(count)
        elif k == "x-example-alias-status":
            alias, _, status = value.strip().partition("=")
            if status.strip() in ("optout", "dead"):
                state.aliases[alias.strip().lower()] = status.strip()  # type: ignore[assignment]
    return state
