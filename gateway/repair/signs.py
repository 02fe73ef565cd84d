"""How the HTML and the plain-text repair recognise a footer, a contact line, an allowed host and an
emoji: defined once for both."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import urlsplit

import regex

from gateway.message.patterns import EMOJI_SEQUENCE

SOCIAL = ("facebook.com", "fb.com", "instagram.com", "twitter.com", "x.com", "tiktok.com", "youtube.com",
          "pinterest.com", "pinterest.de", "linkedin.com", "xing.com", "threads.net", "wa.me", "t.me")
FOOTER_WORDS = regex.compile(
    r"(?i)unsubscribe|newsletter|abmelden|abbestellen|désabonner|désinscri|disiscri|darse de baja|"
    r"darte de baja|uitschrijven|afmelden|wypisz|avregistrera|avsluta prenumeration|配信停止|購読解除|"
    r"folge[nt]? uns|follow us|suivez-nous|seguici|síguenos|volg ons|obserwuj nas|följ oss")
URLISH = regex.compile(r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:de|com|co\.uk|fr|it|es|"
                       r"nl|pl|se|eu|shop|store|net|org|at|ch|be|jp|com\.tr|com\.br)\b(?:/\S*)?")


def url_host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def allowed_host(host: str, allow: Sequence[str]) -> bool:
    return any(host == d or host.endswith("." + d) for d in allow)


def strip_emoji(text: str, removed: list[str]) -> str:
    def drop(m: regex.Match[str]) -> str:
        removed.append(m.group(0))
        return ""
    cleaned = EMOJI_SEQUENCE.sub(drop, text)
    # "Danke 🙂!" -> "Danke !": fold the space the emoji leaves before punctuation.
    return re.sub(r"[ \t]+(?=[!?.,;:])", "", cleaned) if cleaned != text else text

