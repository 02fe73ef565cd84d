"""Checks that read state or the engine's findings: review counts, alias status, the critical
keyword, the purpose, the language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.policy.checks.registry import check
from gateway.policy.context import Context
from gateway.policy.language import marketplace_languages, shares


@check("review-request-repeat", "a review request for an order that already had one (stateful)", limit=1)
def _review_repeat(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if "review-request" not in ctx.tags or ctx.state is None:
        return None
    ctx.limits["review-request"] = int(params["limit"])
    for order_id in ctx.order_ids:
        try:
            count = ctx.state.review_requests(order_id)
        except Exception:
            continue
        if count >= int(params["limit"]):
            return f"order {order_id} already had {count} review request(s)"
    return None


def _alias_statuses(ctx: Context) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if ctx.state is None:
        return out
    for rcpt in ctx.recipients:
        try:
            status = ctx.state.alias_status(rcpt.alias)
        except Exception:
            status = None
        if status:
            out.append((rcpt.alias, status))
    return out


@check("alias-dead", "the buyer alias bounced as unknown before")
def _alias_dead(ctx: Context, params: Mapping[str, Any]) -> str | None:
    for alias, status in _alias_statuses(ctx):
        if status == "dead":
            return alias
    return None


@check("buyer-opted-out", "proactive, non-critical mail to a buyer who opted out of unsolicited messages")
def _buyer_opted_out(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.reply or (ctx.critical and ctx.keyword is not None):
        return None
    for alias, status in _alias_statuses(ctx):
        if status == "optout":
            return alias
    return None


@check("critical-keyword-missing", "critical content without the marketplace's subject keyword")
def _keyword_missing(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if not ctx.critical or ctx.keyword is None:
        return None
    if ctx.keyword_pattern is not None and ctx.keyword_pattern.search(ctx.subject):
        return None
    for pattern in ctx.keyword_patterns:
        written = pattern.search(ctx.subject)
        if written is not None:
            return f"subject writes {written.group(0)!r}; Amazon reads only {ctx.keyword}"
    return f"subject {ctx.subject[:120]!r} lacks {ctx.keyword}"


@check("critical-keyword-misused", "the subject keyword on a message that is not critical")
def _keyword_misused(ctx: Context, params: Mapping[str, Any]) -> str | None:
    # Only a message with no critical evidence at all is a misuse: the seller's keyword on a
    # message that is partly about a delivery date or an address is given the benefit of the doubt.
    if ctx.critical or ctx.critical_evidence > 0:
        return None
    # Only the keyword as Amazon reads it (half-width square brackets) lets mail through an opt-out and
    # can be misused; 【重要】 or ［重要］ is how Japanese business mail marks any important subject.
    for pattern in ctx.keyword_patterns:
        for m in pattern.finditer(ctx.subject):
            if m.group(0).startswith("[") and m.group(0).endswith("]"):
                return m.group(0)
    return None


@check("purpose", "the message's purpose (from the purpose evidence) is one of the listed", purposes=[])
def _purpose_is(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.purpose is not None and ctx.purpose in params["purposes"]:
        return ctx.purpose
    return None


@check("language-mismatch", "the seller's text is in a language the marketplace's buyers do not read",
       accepted={}, min_percent=70, bilingual_percent=20)
def _language_mismatch(ctx: Context, params: Mapping[str, Any]) -> str | None:
    if ctx.language is None or ctx.language_percent < int(params["min_percent"]):
        return None
    accepted = params["accepted"].get(ctx.marketplace or "") or marketplace_languages(ctx.marketplace)
    if not accepted or ctx.language in accepted:
        return None
    # A bilingual mail ("Bonjour / Hello", a French and an English column) is in the buyer's language too.
    found = shares(ctx.own_text)
    if any(found.get(lang, 0) >= int(params["bilingual_percent"]) for lang in accepted):
        return None
    return f"written in {ctx.language} ({ctx.language_percent}%), .{ctx.marketplace} reads {', '.join(accepted)}"
