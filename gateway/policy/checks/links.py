"""Checks on links and images: outside the allow-list, opt-out, tracking pixels, logos, spelled-out
addresses, Amazon cross-selling."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway.message import normalize
from gateway.policy.checks.registry import check
from gateway.policy.context import Context


def domain_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether ``host`` is one of ``allowed`` or under one (``amazon.*``: any public suffix)."""
    host = host.lower().rstrip(".")
    exact, wildcards = _allow_table(allowed if isinstance(allowed, tuple) else tuple(allowed))
    if host in exact:
        return True
    dot = host.find(".")
    while dot != -1:  # host.endswith("." + entry): the part after one of its dots is an entry
        if host[dot + 1:] in exact:
            return True
        dot = host.find(".", dot + 1)
    for label in wildcards:  # amazon.* : any public suffix after the label
        parts = host.split(".")
        for i in range(len(parts)):
            if parts[i] == label.split(".")[-1] and ".".join(parts[i - label.count("."): i + 1]) == label:
                rest = parts[i + 1:]
                if 1 <= len(rest) <= 2 and all(len(p) <= 3 for p in rest):
                    return True
    return False


@functools.lru_cache(maxsize=256)
def _allow_table(allowed: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """An allow-list as the set of its hosts and its wildcard labels (``amazon.*`` -> ``amazon``),
    made once per list: the carriers' list of links-to is 49 hosts long."""
    entries = [entry.lower().strip(".") for entry in allowed]
    return (frozenset(e for e in entries if not e.endswith(".*")),
            tuple(e[:-2] for e in entries if e.endswith(".*")))


def unwrapped(url: str, host: str, wrappers: Mapping[str, str]) -> tuple[str, str]:
    """The target of a link that a mail filter rewrote to pass through its own server (Microsoft
    365 Safe Links: ``https://eur03.safelinks.protection.outlook.com/?url=<target>&data=...``), with
    its host; any other link as it is. ``wrappers``: the rewriting host -> its target parameter."""
    for wrapper, param in wrappers.items():
        if host == wrapper or host.endswith("." + wrapper):
            values = parse_qs(urlsplit(url).query).get(param)
            if values:
                target = values[0].strip()
                return target, (urlsplit(target).hostname or "").lower()
    return url, host


@check("external-links", "links to hosts outside the allow-list", allow_domains=[], wrappers={})
def _external_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    wrappers = params["wrappers"]
    for link in ctx.links:
        if link.url.lower().startswith(("mailto:", "tel:", "cid:", "data:")):
            continue
        url, host = unwrapped(link.url, link.host, wrappers) if wrappers and link.host else (link.url, link.host)
        if not host or not domain_allowed(host, allowed):
            return url[:200]
    return None


@check("optout-links", "links whose address or label offers to unsubscribe",
       words=["unsubscribe", "optout", "opt-out", "opt_out", "abmelden", "abbestellen", "desinscri",
              "desabonn", "disiscriv", "cancelar-suscripcion", "darse-de-baja", "dar-de-baja"])
def _optout_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    words = [w.lower() for w in params["words"]]
    for link in ctx.links:
        target = (link.url + " " + link.label).lower()
        if any(w in target for w in words):
            return link.url[:200]
    return None


def _query_string(src: str) -> bool:
    return "?" in src and "=" in src.split("?", 1)[1]


@check("tracking-pixels", "tiny or query-string remote images (they report when a buyer opens the mail)",
       max_pixels=3)
def _tracking_pixels(ctx: Context, params: Mapping[str, Any]) -> str | None:
    limit = int(params["max_pixels"])
    for img in ctx.content.images:
        if not img.remote:
            continue
        tiny = ((img.width is not None and img.width <= limit)
                or (img.height is not None and img.height <= limit))
        if tiny or _query_string(img.src):
            return img.src[:200]
    return None


@check("remote-images", "images loaded from a server outside the allow-list", allow_domains=[])
def _remote_images(ctx: Context, params: Mapping[str, Any]) -> str | None:
    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    for img in ctx.content.images:
        if img.remote and not domain_allowed(img.host, allowed):
            return img.src[:200]
    return None


@check("linked-images", "images (logos) wrapped in a link that leaves Amazon", allow_domains=[])
def _linked_images(ctx: Context, params: Mapping[str, Any]) -> str | None:
    from gateway.policy.content import host_of

    allowed = tuple(params["allow_domains"]) + ctx.allow_domains
    for img in ctx.content.images:
        if img.linked_to and not img.linked_to.lower().startswith(("#", "cid:")):
            host = host_of(img.linked_to)
            if not host or not domain_allowed(host, allowed):
                return f"{img.src[:80]} -> {img.linked_to[:120]}"
    return None


@check("links-to", "a link to one of the listed hosts (or their subdomains)", domains=[])
def _links_to(ctx: Context, params: Mapping[str, Any]) -> str | None:
    domains = tuple(params["domains"])
    for link in ctx.links:
        if link.host and domain_allowed(link.host, domains):
            return link.url[:200]
    return None


# "www dot shop dot com", "meinshop punkt de", "shop(dot)com", "shop [.] de": in normalised text the
# brackets and dots are gone, so these read "www dot shop dot com", "meinshop punkt de", ...
_DOT_WORDS = {
    # dot word: top-level domains after which it is a web address (not "au point de vue")
    "dot": "com|net|org|de|co uk|uk|fr|it|es|nl|pl|se|eu|shop|store|io|info|biz|at|ch|be|com tr|jp|co jp",
    "punkt": "de|com|net|org|at|ch|eu|shop|info|biz",
    "point": "com|fr|net|org|eu|shop",
    "punto": "com|it|net|org|shop",
    "kropka": "pl|com|eu|net",
    "nokta": "com|com tr|net|org",
    "ponto": "com|com br|br|net",
    "ドット": "com|jp|co jp|net",
}
_SPELLED_LINK = re.compile(
    r"(?:^| )((?:www (?:dot|punkt|point|punto|kropka|nokta|ponto) )?[a-z0-9][a-z0-9-]{2,62}"
    r" (?:" + "|".join(f"{w} (?:{t})" for w, t in _DOT_WORDS.items()) + r"))(?= |$)")
_LABEL_STOPWORDS = frozenset({"the", "und", "and", "der", "die", "das", "le", "la", "el", "il", "de", "en", "auf",
                              "zum", "ein", "one", "this", "that", "next", "first", "last", "same"})


@check("spelled-out-links", "web addresses spelled out with a dot word (dot, punkt, point, punto, kropka, ...)")
def _spelled_out_links(ctx: Context, params: Mapping[str, Any]) -> str | None:
    text = ctx.doc.text
    if not any(f" {w} " in text for w in _DOT_WORDS):
        return None
    for m in _SPELLED_LINK.finditer(text):
        label = m.group(1).split(" ")
        name = label[2] if label[0] == "www" and len(label) > 3 else label[0]
        if name in _LABEL_STOPWORDS or name.isdigit():
            continue
        if "amazon" in name:
            continue
        return m.group(1)
    return None


# Amazon pages that sell something else: a storefront, a search, other products.
_AMAZON_CROSS_SELL = re.compile(r"(?i)/(?:stores?|shops?)/|/s\?|[?&](?:me|seller|merchant)=|/sp\?|/gp/aag/|/b\?|/b/")
_AMAZON_PRODUCT = re.compile(r"(?i)/(?:dp|gp/product|exec/obidos/asin)/([A-Z0-9]{10})")


@check("amazon-cross-selling", "amazon.* links to a storefront, a search or to more than one product")
def _amazon_cross_selling(ctx: Context, params: Mapping[str, Any]) -> str | None:
    products: set[str] = set()
    for link in ctx.links:
        if not link.host or not domain_allowed(link.host, ("amazon.*", "amzn.*")):
            continue
        url = link.url
        if _AMAZON_CROSS_SELL.search(url):
            return url[:200]
        found = _AMAZON_PRODUCT.search(url)
        if found:
            products.add(found.group(1).upper())
            if len(products) > 1:
                return url[:200]
    return None


_SENTENCE_BREAK = re.compile(r"[.!?。！？](?=\s)|\n[ \t]*\n")


def _sentence_around(text: str, start: int, end: int, reach: int) -> tuple[int, int]:
    """The sentence that holds ``text[start:end]`` (a link): from the last sentence end before it
    to the first one after it, at most ``reach`` characters either way. The link's own dots do not
    end it (a sentence end is punctuation before white space, or a blank line)."""
    left = max(0, start - reach)
    breaks = list(_SENTENCE_BREAK.finditer(text, left, start))
    if breaks:
        left = breaks[-1].end()
    right = min(len(text), end + reach)
    after = _SENTENCE_BREAK.search(text, end, right)
    if after is not None:
        right = after.end()
    return left, right


@check("amazon-product-offer", "a link to an Amazon product page in a sentence with selling words "
       "(accessories, 'you may also like', 'grab it now')", words=[], window=200)
def _amazon_product_offer(ctx: Context, params: Mapping[str, Any]) -> str | None:
    """One product link is allowed (the ordered item's page, its manual); the same link in a
    sentence that offers something ("the matching accessories: ...", "... grab it now!") sells.
    Only the link's own sentence counts: "the accessory set was missing. The manual is on the
    product page: ..." is not an offer."""
    from gateway.policy.checks.contact import _context_needles

    text = ctx.own_text
    needles = _context_needles(tuple(params["words"]))
    for link in ctx.links:
        if not link.host or not domain_allowed(link.host, ("amazon.*", "amzn.*")):
            continue
        if not _AMAZON_PRODUCT.search(link.url) and not link.host.startswith("amzn."):
            continue
        written = link.url if link.source == "text" else link.label
        at = text.find(written) if written else -1
        if at < 0:
            continue
        left, right = _sentence_around(text, at, at + len(written), int(params["window"]))
        around = normalize(text[left:at] + " " + text[at + len(written):right])
        if any(needle in around for needle in needles):
            return link.url[:200]
    return None
