"""The policy engine: every rule runs on the decoded message, then one decision is made.

``PolicyEngine.evaluate`` is synchronous and CPU-bound (the server calls it in a worker thread). It
never raises on bad input: a message it cannot read still gets a verdict. ``apply`` turns a REWRITE
verdict into the bytes to relay (only the Subject header changes); any other verdict leaves the
bytes untouched.
"""

from __future__ import annotations

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
from gateway.message.text import nfkc_and_stripped
from gateway.orderids import MAX_ORDER_ID_TEXT, find_folded_order_ids, find_order_ids, mask_order_ids
from gateway.policy.content import (
    MessageContent,
    decode_header_value,
    parse_headers,
    read_message,
    strip_invisible,
)
from gateway.policy.context import Context
from gateway.policy.document import Document
from gateway.policy.keywords import (
    DEFAULT_KEYWORDS,
    FALLBACK_KEYWORD,
    keyword_pattern,
    keyword_variants,
    with_keyword,
    without_keywords,
)
from gateway.policy.language import detect as detect_language
from gateway.policy.language import marketplace_languages
from gateway.policy.loader import Matcher, PolicyLoadError, Rule
from gateway.policy.matchers import near_pair, run_matcher
from gateway.policy.packs import Purpose, load_packs
from gateway.policy.phrases import PhraseIndex
from gateway.policy.purposes import evidence_key, judge_purpose
from gateway.policy.state import InMemoryPolicyState, PolicyState, examples_state
from gateway.policy.verdict import Action, Hit, Verdict, most_severe

__all__ = ["DEFAULT_KEYWORDS", "InMemoryPolicyState", "PolicyEngine", "PolicyLoadError", "PolicyState",
           "examples_state", "near_pair"]

DEFAULT_PACKS_DIR = shipped_policies()

# Amazon's own carrier and marketplace hosts that a message may need to link to.
DEFAULT_ALLOW_DOMAINS: tuple[str, ...] = ("amazon.*", "amzn.*", "media-amazon.com", "ssl-images-amazon.com",
                                          "images-amazon.com", "amazon-adsystem.com")

_THREAD_TOKEN = regex.compile(r"\[commMgrTok:[^\]\s]{1,200}\]")
_THREAD_TOKEN_START = "[commMgrTok:"
# A message id from Amazon's side: its mail systems or a buyer alias of any marketplace.
_AMAZON_MESSAGE_ID = regex.compile(
    r"(?i)@(?:[a-z0-9-]+\.)*(?:amazon\.(?:com|[a-z]{2}|co\.[a-z]{2}|com\.[a-z]{2})|amazonses\.com)\s*>")


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
        self._rule_ids = tuple(rule.id for rule in self.rules)
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
                self._index_matcher((evidence_key(p), j), ev.matcher, None)
        self._index.build()
        # Rules and purpose evidence that only read phrases are decided without running them when
        # none of their (first) phrases occur: most rules, for most messages.
        self._rule_gates = tuple(self._gate([((i, j), m) for j, m in enumerate(rule.matchers)])
                                 for i, rule in enumerate(self.rules))
        # The rules to run for a message: those without a gate, and those a phrase that occurs
        # wakes; the others are misses without a look (so a pack's rules that do not apply to a
        # message cost a set look-up, not a turn of the loop each).
        self._ungated = frozenset(i for i, gate in enumerate(self._rule_gates) if gate is None)
        woken_by: dict[int, list[int]] = {}
        for i, gate in enumerate(self._rule_gates):
            for pid in gate or ():
                woken_by.setdefault(pid, []).append(i)
        self._woken_by = {pid: tuple(rules) for pid, rules in woken_by.items()}
        self._applicable: dict[tuple[str | None, bool], tuple[tuple[int, ...], frozenset[int]]] = {}
        self._evidence_gates = tuple(tuple(self._gate([((evidence_key(p), j), ev.matcher)])
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
            return self._evaluate(content, recipients, state)
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
        ids = content.in_reply_to + " " + content.references + " "
        if "@" in ids and _AMAZON_MESSAGE_ID.search(ids):
            return True
        # (the token's literal start looked for first: a str search, where the pattern costs more)
        return any(_THREAD_TOKEN_START in text and _THREAD_TOKEN.search(text)
                   for text in (content.subject, content.body_text))

    def _evaluate(self, content: MessageContent, recipients: Sequence[MarketplaceRecipient],
                  state: PolicyState | None) -> Verdict:
        subject = content.subject
        full_text = content.body_text
        # NFKC once for the order ids, the masked texts and the text links (see nfkc_and_stripped).
        folded_subject, clean_subject = nfkc_and_stripped(subject)
        folded_text, clean_full = nfkc_and_stripped(full_text)
        if len(subject) + 1 + len(full_text) <= MAX_ORDER_ID_TEXT:
            # NFKC of the joined text is NFKC of each part joined: a line break never composes.
            order_ids = find_folded_order_ids(folded_subject + "\n" + folded_text)
        else:
            order_ids = find_order_ids(subject + "\n" + full_text)
        reply = self.is_reply(content, recipients)
        if not recipients:
            return Verdict(action=Action.RELAY, subject=subject, reply=reply, order_ids=order_ids,
                           fingerprint=_fingerprint(content))
        marketplace = recipients[0].marketplace
        own_text = content.own_text() if reply else full_text
        doc = Document.build(subject, own_text)
        keyword = self.keyword_for(marketplace)
        detected = detect_language(own_text)
        clean_text = clean_full if own_text is full_text else strip_invisible(own_text)
        stem_languages = tuple(dict.fromkeys(
            lang for lang in (detected.language, *marketplace_languages(marketplace)[:1]) if lang))
        ctx = Context(
            content=content, subject=subject, own_text=own_text, doc=doc, reply=reply,
            marketplace=marketplace, recipients=recipients, state=state, order_ids=order_ids,
            keyword=f"[{keyword}]" if self.config.keyword_override else None,
            keyword_pattern=self._keyword_patterns.get(marketplace, self._fallback_pattern),
            keyword_patterns=self._all_keyword_patterns, allow_domains=self.allow_domains,
            masked_subject=mask_order_ids(clean_subject),
            masked_text=mask_order_ids(clean_text), clean_text=clean_text,
            language=detected.language, language_percent=detected.percent,
        )
        ctx.occurrences = self._index.scan(doc, stem_languages)
        purpose, purpose_scores, purpose_critical, critical_evidence = judge_purpose(
            self.purposes, self._evidence_gates, ctx)
        ctx.purpose = purpose
        ctx.critical_evidence = critical_evidence
        if purpose_critical:
            ctx.critical = True
        decided: list[_Decided] = []
        limit_rules: dict[str, str] = {}  # counter tag -> the rule that set its limit
        score = 0.0
        applicable, applicable_set = self._applicable_rules(marketplace, reply)
        woken = set(self._ungated)
        for pid in ctx.occurrences.found:
            woken.update(self._woken_by.get(pid, ()))
        decided_rules: set[int] = set()  # the rules that hit or failed: every other applicable one missed
        for i in sorted(woken.intersection(applicable_set)):
            rule = self.rules[i]
            limits_before = len(ctx.limits)  # (checks only add limits: the new ones are the last)
            try:
                evidence = self._run_rule(i, rule, ctx)
            except Exception as exc:
                decided.append(_Decided(Hit(rule.id, Action.QUARANTINE,
                                            "This rule failed on the message; held for review",
                                            f"{type(exc).__name__}: {exc}"[:200]), rule))
                decided_rules.add(i)
                continue
            if len(ctx.limits) != limits_before:
                limit_rules.update(dict.fromkeys(list(ctx.limits)[limits_before:], rule.id))
            if evidence is None:
                continue
            decided_rules.add(i)
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
        rule_ids = self._rule_ids
        misses = [rule_ids[i] for i in applicable if i not in decided_rules]
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
                new_subject = with_keyword(new_subject, keyword)
                rewrites.append(f"add-keyword [{keyword}]")
            elif d.rule.rewrite == "remove-keyword":
                new_subject = without_keywords(new_subject, self._all_keyword_patterns)
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
                       subject_rewrites=tuple(rewrites), fingerprint=_fingerprint(content))

    def _applicable_rules(self, marketplace: str | None, reply: bool) -> tuple[tuple[int, ...], frozenset[int]]:
        """The indexes of the rules that apply to mail to ``marketplace`` (as a proactive message
        or a reply), in rule order and as a set; kept per (marketplace, reply)."""
        key = (marketplace, reply)
        found = self._applicable.get(key)
        if found is None:
            indexes = tuple(i for i, rule in enumerate(self.rules)
                            if (rule.marketplaces is None or marketplace in rule.marketplaces)
                            and not (rule.applies_to == "proactive" and reply)
                            and not (rule.applies_to == "reply" and not reply))
            found = (indexes, frozenset(indexes))
            if len(self._applicable) < 256:
                self._applicable[key] = found
        return found

    def _run_rule(self, index: int, rule: Rule, ctx: Context) -> str | None:
        for j, matcher in enumerate(rule.matchers):
            evidence = run_matcher((index, j), matcher, ctx)
            if evidence is not None:
                return evidence
        return None

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


def _fingerprint(content: MessageContent) -> str:
    """The template fingerprint from the text read once, here in the evaluating worker (part of
    the verdict, not a copy of it made afterwards: dataclasses.replace costs as much as a rule)."""
    return text_fingerprint(content.body_text).encode()


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


