"""Compose the generated part of the evaluation corpus from the per-language template data.

    python -m tests.corpus.build          # rewrites tests/corpus/generated/ and its labels.toml

Deterministic (one seed per locale), so a re-run reproduces the committed files byte for byte. Each
message is put together as an ERP template would be: salutation, purpose text, order table with
totals and VAT, addresses, carrier tracking link, closing, signature, legal footer with register data,
PDF attachments; then the violations a recipe asks for are worked in (a coupon paragraph, the shop's
phone in the signature, a logo that links to the shop, ...). The expected label follows from the
recipe and the rule packs' actions (see EXPECT below), never from what the engine does.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.corpus import mime
from tests.corpus.locales import ALL
from tests.corpus.model import Locale, Shop, Variant

HERE = Path(__file__).resolve().parent
OUT = HERE / "generated"

CRITICAL_PURPOSES = ("delivery-scheduling", "customization", "address-problem")
BENIGN_PURPOSES = ("invoice", "return", "review-request", "order-problem", "reply", *CRITICAL_PURPOSES)

# Violation kind -> (rules expected to fire, the actions Amazon's rules and the packs allow).
# A rule id is listed only where an existing pack rule covers the violation; an empty tuple means
# no shipped rule covers it yet (the "rules missing entirely").
EXPECT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "coupon": (("promotion-discount",), ("reject",)),
    "promotion": (("promotion-discount",), ("reject",)),
    "shop-link": (("external-link",), ("reject",)),
    "spelled-link": ((), ("reject", "quarantine")),
    "seller-phone": (("seller-phone-number",), ("reject",)),
    "seller-email": (("seller-email-address",), ("reject",)),
    "contact-footer": (("seller-phone-number", "seller-email-address"), ("reject",)),
    "messenger": (("off-amazon-contact",), ("reject",)),
    "messenger-line": ((), ("reject", "quarantine")),
    "contact-request": (("buyer-contact-request",), ("quarantine", "reject")),
    "review-positive": (("review-positive-wording",), ("reject",)),
    "review-incentive": (("review-incentive",), ("reject",)),
    "review-satisfied": (("review-satisfied-only",), ("reject",)),
    "review-change": (("review-change-or-remove",), ("reject",)),
    "review-repeat": (("review-request-repeat",), ("reject",)),
    "cross-sell": ((), ("reject", "quarantine")),
    "optout-link": (("optout-link",), ("reject",)),
    "emoji": (("emoji",), ("reject",)),
    "tracking-pixel": (("tracking-pixel",), ("reject",)),
    "logo-link": (("logo-link",), ("reject",)),
    "remote-image": (("remote-image",), ("quarantine", "reject")),
    "attachment-docx": (("attachment-unusual-type",), ("quarantine",)),
    "attachment-zip": (("attachment-dangerous",), ("reject",)),
    "attachment-catalog": ((), ("reject", "quarantine")),
    "keyword-misuse": (("critical-keyword-misused",), ("quarantine",)),
    "wrong-language": ((), ("quarantine", "reject")),
    "no-order-id": (("order-id-missing",), ("quarantine",)),
    "order-confirmation": (("confirmation-only",), ("reject",)),
    "shipping-confirmation": (("confirmation-only",), ("reject",)),
    "thank-you": (("thanks-only",), ("reject",)),
    "out-of-stock": ((), ("reject", "quarantine")),
    "opted-out": (("buyer-opted-out",), ("reject",)),
}

SEVERITY = {"relay": 0, "rewrite": 1, "quarantine": 2, "reject": 3}

ALIAS_CHARS = "0123456789bcdfghjklmnpqrstvwxz"


@dataclass
class Spec:
    purpose: str
    inject: tuple[str, ...] = ()
    fmt: str = "alt"
    """plain | html | alt (multipart/alternative)"""
    attach: tuple[str, ...] = ()
    """invoice | terms | label | proof | docx | zip | catalog"""
    keyword: bool = False
    marketplace: str | None = None
    """Send to another marketplace than the locale's (wrong language)."""
    optout: bool = False
    reply: str | None = None
    """genuine | fake"""
    hard: tuple[str, ...] = ()
    """hard-product | manufacturer-hotline | carrier-phone | ean | tracking"""
    logo: str | None = None
    """cid | remote | linked"""
    note: str = ""


@dataclass
class Built:
    name: str
    raw: bytes
    label: dict[str, object] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------------
# recipes: which messages each locale gets


def recipe(size: str) -> list[Spec]:
    """The messages for one locale; ``size`` is full, medium, small or mini."""
    benign = [
        Spec("invoice", attach=("invoice",), fmt="alt", logo="cid"),
        Spec("invoice", attach=("invoice",), fmt="plain"),
        Spec("invoice", attach=("invoice",), fmt="html", hard=("hard-product",)),
        Spec("invoice", attach=("invoice", "terms"), fmt="alt", hard=("ean",)),
        Spec("return", fmt="plain"),
        Spec("review-request", fmt="alt"),
        Spec("delivery-scheduling", fmt="alt"),
        Spec("customization", fmt="plain"),
        Spec("address-problem", fmt="alt"),
        Spec("reply", reply="genuine", fmt="plain"),
    ]
    violating = [
        Spec("shipping-confirmation", inject=("shipping-confirmation",), fmt="alt", hard=("tracking",)),
        Spec("thank-you", inject=("thank-you",), fmt="plain"),
        Spec("out-of-stock", inject=("out-of-stock",), fmt="alt"),
        Spec("invoice", inject=("coupon",), attach=("invoice",), fmt="alt"),
        Spec("invoice", inject=("shop-link",), attach=("invoice",), fmt="html"),
        Spec("invoice", inject=("contact-footer",), attach=("invoice",), fmt="plain"),
        Spec("review-request", inject=("review-positive",), fmt="plain"),
        Spec("delivery-scheduling", inject=("messenger",), fmt="plain"),
        Spec("invoice", inject=("emoji",), attach=("invoice",), fmt="alt"),
    ]
    if size in ("mini",):
        return [*benign[:6], benign[7], benign[9], *violating[:2], *violating[3:5], *violating[6:]]
    if size in ("small", "medium", "full"):
        benign += [
            Spec("invoice", attach=("invoice",), fmt="alt", hard=("tracking",)),
            Spec("return", fmt="alt", attach=("label",)),
            Spec("delivery-scheduling", fmt="plain", keyword=True),
            Spec("customization", fmt="alt", attach=("proof",)),
            Spec("order-problem", fmt="plain"),
            Spec("reply", reply="genuine", fmt="alt"),
        ]
        violating += [
            Spec("order-confirmation", inject=("order-confirmation",), fmt="alt", attach=("terms",)),
            Spec("invoice", inject=("seller-phone",), attach=("invoice",), fmt="plain"),
            Spec("review-request", inject=("review-incentive",), fmt="alt"),
            Spec("invoice", inject=("keyword-misuse",), keyword=True, attach=("invoice",), fmt="plain"),
            Spec("invoice", inject=("tracking-pixel",), attach=("invoice",), fmt="html"),
            Spec("reply", reply="fake", inject=("coupon", "shop-link"), fmt="plain"),
        ]
    if size in ("medium", "full"):
        benign += [
            Spec("invoice", attach=("invoice",), fmt="plain", hard=("manufacturer-hotline",)),
            Spec("invoice", attach=("invoice",), fmt="html", logo="cid", hard=("ean",)),
            Spec("return", fmt="plain"),
            Spec("review-request", fmt="plain"),
            Spec("address-problem", fmt="plain", keyword=True),
            Spec("customization", fmt="alt", keyword=True),
            Spec("delivery-scheduling", fmt="html", optout=True, hard=("carrier-phone",)),
            Spec("reply", reply="genuine", fmt="html"),
        ]
        violating += [
            Spec("shipping-confirmation", inject=("shipping-confirmation",), fmt="plain", hard=("tracking",)),
            Spec("thank-you", inject=("thank-you",), fmt="html"),
            Spec("promotion", inject=("promotion",), fmt="html"),
            Spec("invoice", inject=("seller-email",), attach=("invoice",), fmt="alt"),
            Spec("return", inject=("contact-request",), fmt="plain"),
            Spec("review-request", inject=("review-satisfied",), fmt="alt"),
            Spec("return", inject=("review-change",), fmt="plain"),
            Spec("invoice", inject=("cross-sell",), attach=("invoice",), fmt="alt"),
            Spec("invoice", inject=("logo-link",), attach=("invoice",), fmt="html", logo="linked"),
            Spec("invoice", inject=("attachment-docx",), attach=("docx",), fmt="plain"),
            Spec("invoice", inject=("no-order-id",), attach=("invoice",), fmt="plain"),
            Spec("invoice", inject=("opted-out",), optout=True, attach=("invoice",), fmt="alt"),
        ]
    if size == "full":
        benign += [
            Spec("invoice", attach=("invoice",), fmt="alt", hard=("hard-product", "ean")),
            Spec("invoice", attach=("invoice",), fmt="plain", hard=("manufacturer-hotline",)),
            Spec("invoice", attach=("invoice",), fmt="html", logo="cid"),
            Spec("invoice", attach=("invoice",), fmt="plain"),
            Spec("return", fmt="html"),
            Spec("order-problem", fmt="alt", hard=("tracking",)),
            Spec("address-problem", fmt="html"),
            Spec("customization", fmt="html"),
            Spec("delivery-scheduling", fmt="alt", keyword=True),
            Spec("reply", reply="genuine", fmt="plain"),
            Spec("reply", reply="genuine", fmt="alt"),
        ]
        violating += [
            Spec("order-confirmation", inject=("order-confirmation",), fmt="plain"),
            Spec("out-of-stock", inject=("out-of-stock",), fmt="plain"),
            Spec("invoice", inject=("spelled-link",), attach=("invoice",), fmt="plain"),
            Spec("invoice", inject=("optout-link",), attach=("invoice",), fmt="html"),
            Spec("invoice", inject=("remote-image",), attach=("invoice",), fmt="html", logo="remote"),
            Spec("invoice", inject=("attachment-zip",), attach=("zip",), fmt="plain"),
            Spec("invoice", inject=("attachment-catalog",), attach=("invoice", "catalog"), fmt="alt"),
            Spec("review-request", inject=("review-repeat",), fmt="plain"),
            Spec("customization", inject=("shop-link",), fmt="alt"),
            Spec("reply", reply="fake", inject=("review-positive",), fmt="alt"),
            Spec("invoice", inject=("emoji",), attach=("invoice",), fmt="plain"),
        ]
    return benign + violating


SIZES = {"de-DE": "full", "en-US": "medium", "en-GB": "medium", "fr-FR": "medium", "it-IT": "medium",
         "es-ES": "medium", "ja-JP": "medium", "nl-NL": "small", "pl-PL": "small", "sv-SE": "small",
         "tr-TR": "small", "pt-BR": "mini", "ar-AE": "mini", "en-AE": "mini"}

# Wrong language for the marketplace: (message locale, marketplace it is sent to).
WRONG_LANGUAGE = (("de-DE", "fr"), ("de-DE", "it"), ("en-US", "co.jp"), ("it-IT", "es"), ("fr-FR", "de"),
                  ("en-GB", "pl"), ("es-ES", "it"), ("pl-PL", "se"), ("de-DE", "nl"), ("en-US", "com.tr"))


# --------------------------------------------------------------------------------------------------
# composing one message


class Composer:
    def __init__(self, loc: Locale, seed: str) -> None:
        self.loc = loc
        self.rng = random.Random(hashlib.sha256(seed.encode()).digest())

    def alias(self) -> str:
        return "".join(self.rng.choice(ALIAS_CHARS) for _ in range(15))

    def order_id(self, leading_zero: bool) -> str:
        first = self.rng.choice(self.loc.order_prefixes)
        mid = ("0" if leading_zero else str(self.rng.randint(1, 9))) + f"{self.rng.randint(0, 999999):06d}"
        return f"{first}-{mid}-{self.rng.randint(0, 9999999):07d}"

    def pattern(self, pat: str) -> str:
        return "".join(str(self.rng.randint(0, 9)) if c == "9" else
                       chr(self.rng.randint(65, 90)) if c == "A" else c for c in pat)

    def date(self, offset: int = 0) -> str:
        day = 1 + (self.rng.randint(2, 20) + offset) % 28
        return self.loc.date(2026, 12, day)


def _fill(template: str, values: dict[str, str]) -> str:
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


@dataclass
class Line:
    sku: str
    ean: str
    name: str
    qty: int
    price: float


def _totals(loc: Locale, lines: list[Line], shipping: float) -> tuple[float, float]:
    """Gross total and the VAT it contains (prices are gross, as on EU consumer invoices)."""
    total = sum(ln.price * ln.qty for ln in lines) + shipping
    return total, (total - total / (1 + loc.vat_rate) if loc.vat_rate else 0.0)


def _text_table(loc: Locale, lines: list[Line], shipping: float, with_ean: bool) -> str:
    w = loc.words
    rows = [f"{w['pos']:<5}{w['sku']:<12}{w['item']:<44}{w['qty']:>6}{w['price']:>14}{w['sum']:>14}"]
    rows.append("-" * len(rows[0]))
    for i, ln in enumerate(lines, 1):
        rows.append(f"{i:<5}{ln.sku:<12}{ln.name[:43]:<44}{ln.qty:>6}{loc.money(ln.price):>14}"
                    f"{loc.money(ln.price * ln.qty):>14}")
        if with_ean:
            rows.append(f"{'':<5}{w['ean']}: {ln.ean}")
    total, vat = _totals(loc, lines, shipping)
    rows.append("-" * len(rows[0]))
    rows.append(f"{w['subtotal']}: {loc.money(total - shipping)}")
    rows.append(f"{w['shipping']}: {loc.money(shipping)}")
    rows.append(f"{w['total']}: {loc.money(total)}")
    if loc.vat_rate:
        rows.append(_fill(loc.vat_label, {"rate": f"{loc.vat_rate * 100:g}", "amount": loc.money(vat)}))
    return "\n".join(rows)


def _html_table(loc: Locale, lines: list[Line], shipping: float, with_ean: bool) -> str:
    w = loc.words
    e = html.escape
    head = "".join(f'<th align="{a}" style="padding:4px 6px;border-bottom:1px solid #cccccc">{e(t)}</th>'
                   for t, a in ((w["pos"], "left"), (w["item"], "left"), (w["qty"], "right"),
                                (w["price"], "right"), (w["sum"], "right")))
    rows = []
    for i, ln in enumerate(lines, 1):
        extra = f'<br><span style="font-size:11px;color:#777777">{e(w["sku"])} {e(ln.sku)}'
        extra += f" &middot; {e(w['ean'])} {e(ln.ean)}</span>" if with_ean else "</span>"
        rows.append(f'<tr><td style="padding:4px 6px">{i}</td><td style="padding:4px 6px">{e(ln.name)}{extra}</td>'
                    f'<td align="right" style="padding:4px 6px">{ln.qty}</td>'
                    f'<td align="right" style="padding:4px 6px">{e(loc.money(ln.price))}</td>'
                    f'<td align="right" style="padding:4px 6px">{e(loc.money(ln.price * ln.qty))}</td></tr>')
    total, vat = _totals(loc, lines, shipping)
    sums = [(w["subtotal"], loc.money(total - shipping)), (w["shipping"], loc.money(shipping)),
            (f"<b>{e(w['total'])}</b>", f"<b>{e(loc.money(total))}</b>")]
    if loc.vat_rate:
        sums.append((e(_fill(loc.vat_label, {"rate": f"{loc.vat_rate * 100:g}", "amount": ""}).rstrip(": ")),
                     e(loc.money(vat))))
    for label, value in sums:
        rows.append(f'<tr><td colspan="4" align="right" style="padding:2px 6px">{label if "<b>" in label else e(label)}'
                    f'</td><td align="right" style="padding:2px 6px">{value}</td></tr>')
    return ('<table width="100%" cellpadding="0" cellspacing="0" style="border-collapse:collapse;font-size:13px">'
            f"\n<tr>{head}</tr>\n" + "\n".join(rows) + "\n</table>")


def _address(loc: Locale, buyer: tuple[str, str, str], addr: tuple[str, str, str], drop_number: bool) -> list[str]:
    street = addr[0]
    if drop_number:
        street = " ".join(p for p in street.split(" ") if not any(ch.isdigit() for ch in p)) or street
    if loc.lang == "ja":
        return [f"〒{addr[1]}", f"{addr[2]}{street}", f"{buyer[2]} {buyer[1]} 様"]
    if loc.tag in ("en-US",):
        return [f"{buyer[1]} {buyer[2]}", street, f"{addr[2]} {addr[1]}", loc.words["country"]]
    if loc.tag in ("en-GB",):
        return [f"{buyer[1]} {buyer[2]}", street, addr[2], addr[1], loc.words["country"]]
    return [f"{buyer[1]} {buyer[2]}", street, f"{addr[1]} {addr[2]}", loc.words["country"]]


def _salutation(loc: Locale, comp: Composer, buyer: tuple[str, str, str]) -> str:
    title, first, last = buyer
    tmpl = comp.rng.choice(loc.salutations)
    female = title in ("Frau", "Mrs", "Ms", "Madame", "Signora", "Señora", "Mevrouw", "Pani", "Sra.", "Hanım")
    # German "Sehr geehrte Frau" / "Sehr geehrter Herr"; Italian/Spanish "Gentile"/"Estimado/a"
    values = {"title": title, "first": first, "last": last, "title_e": "" if female else "r",
              "title_o": "a" if female else "o"}
    return _fill(tmpl, values).replace("  ", " ")


BOUNDARY_STYLES: dict[str, Callable[[random.Random], str]] = {
    "JTL-Wawi": lambda r: f"----=_NextPart_{r.randint(0, 999):03d}_{r.randint(0, 0xFFFF):04X}_"
                          f"{r.randint(0, 0xFFFFFFFF):08X}.{r.randint(0, 0xFFFFFFFF):08X}",
    "Billbee": lambda r: f"=_{r.getrandbits(128):032x}",
    "Plentymarkets": lambda r: f"b1_{r.getrandbits(128):032x}",
    "Shopware": lambda r: f"_=_swift_{r.randint(1700000000, 1800000000)}_{r.getrandbits(128):032x}_=_",
    "Afterbuy": lambda r: f"----=_Part_{r.randint(1000, 99999)}_{r.randint(10**8, 10**9)}."
                          f"{r.randint(10**12, 10**13)}",
    "whBOOK": lambda r: f"--boundary_{r.randint(0, 9)}_{r.getrandbits(32):08x}-{r.getrandbits(16):04x}-"
                        f"{r.getrandbits(16):04x}-{r.getrandbits(16):04x}-{r.getrandbits(48):012x}",
    "Outlook": lambda r: f"----=_NextPart_000_{r.randint(0, 0xFFFF):04X}_01DB{r.randint(0, 0xFFFF):04X}."
                         f"{r.randint(0, 0xFFFFFFFF):08X}",
    "Shopify": lambda r: f"--==_mimepart_{r.getrandbits(48):012x}_{r.randint(10000, 99999)}",
}

MAILERS = {
    "JTL-Wawi": "JTL-Wawi 1.9.6.3", "Billbee": "Billbee Mailer", "Plentymarkets": "plentymarkets Mailer",
    "Shopware": "Shopware Mailer (Symfony Mailer)", "Afterbuy": "Afterbuy Mailsystem", "whBOOK": "whBOOK",
    "Outlook": "Microsoft Outlook 16.0", "Shopify": "Shopify Email",
}


def _cte_for(charset: str, rng: random.Random, html_part: bool) -> str:
    if charset in ("iso-2022-jp", "us-ascii"):
        return "7bit"
    if charset == "shift_jis":
        return rng.choice(("base64", "8bit"))
    if charset == "utf-8":
        return rng.choice(("quoted-printable", "base64", "8bit") if not html_part else ("quoted-printable", "base64"))
    return rng.choice(("quoted-printable", "8bit", "quoted-printable"))


def _pick_charset(loc: Locale, rng: random.Random, texts: list[str]) -> str:
    choices = list(loc.charsets)
    first = rng.choice(choices)
    for charset in [first, *choices, "utf-8"]:
        try:
            for text in texts:
                text.encode(charset)
            return charset
        except UnicodeEncodeError:
            continue
    return "utf-8"


def _html_doc(loc: Locale, shop: Shop, blocks: list[str], footer: list[str], logo: str | None,
              logo_cid: str, charset: str, style: int) -> str:
    e = html.escape
    if logo == "cid":
        logo_html = f'<img src="cid:{logo_cid}" alt="{e(shop.name)}" width="160" height="48">'
    elif logo == "remote":
        logo_html = f'<img src="https://cdn.{shop.domain}/media/logo/logo-mail.png" alt="{e(shop.name)}" width="160">'
    elif logo == "linked":
        logo_html = (f'<a href="https://www.{shop.domain}/?utm_source=amazon&amp;utm_medium=email">'
                     f'<img src="cid:{logo_cid}" alt="{e(shop.name)}" width="160" height="48" border="0"></a>')
    else:
        logo_html = f'<span style="font-size:18px;color:#333333">{e(shop.name)}</span>'
    body = "\n".join(blocks)
    foot = "<br>\n".join(e(line) for line in footer)
    if style == 2:
        return _outlook_doc(loc, body, foot, logo_html, charset)
    if style == 0:
        return (f'<!DOCTYPE html>\n<html lang="{loc.tag[:2]}">\n<head>\n<meta http-equiv="Content-Type" '
                f'content="text/html; charset={charset}">\n<title>{e(shop.name)}</title>\n</head>\n'
                '<body style="margin:0;padding:0;background:#f4f4f4">\n'
                '<table width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="#f4f4f4">'
                '<tr><td align="center">\n'
                '<table width="600" cellpadding="20" cellspacing="0" border="0" bgcolor="#ffffff" '
                'style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#333333">\n'
                f"<tr><td>{logo_html}</td></tr>\n<tr><td>\n{body}\n</td></tr>\n"
                f'<tr><td style="font-size:11px;color:#888888;border-top:1px solid #dddddd">{foot}</td></tr>\n'
                "</table>\n</td></tr></table>\n</body>\n</html>\n")
    return (f'<html><head><meta charset="{charset}"><style>body{{font-family:Verdana,sans-serif;font-size:13px}}'
            " p{margin:0 0 10px 0} .foot{font-size:11px;color:#777777}</style></head>\n<body>\n"
            f"<div>{logo_html}</div>\n{body}\n<hr>\n<div class=\"foot\">{foot}</div>\n</body></html>\n")


def _outlook_doc(loc: Locale, body: str, foot: str, logo_html: str, charset: str) -> str:
    """HTML as Outlook/Word writes it: MSO namespaces and conditional comments, MsoNormal
    paragraphs, every run of text in a <span lang=...>, <o:p> after each paragraph."""
    lang = loc.tag.upper()
    span = f"<span lang={lang} style='font-family:\"Calibri\",sans-serif'>"
    msobody = body.replace("<p>", f"<p class=MsoNormal>{span}")
    msobody = msobody.replace("</p>", "<o:p></o:p></span></p>")
    return (f'<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:w="urn:schemas-microsoft-com:office:word" '
            'xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
            f'xmlns="http://www.w3.org/TR/REC-html40"><head><meta http-equiv=Content-Type content="text/html; '
            f'charset={charset}"><meta name=Generator content="Microsoft Word 15 (filtered medium)">'
            "<!--[if gte mso 9]><xml><o:shapedefaults v:ext=\"edit\" spidmax=\"1026\" /></xml><![endif]-->"
            "<style><!--\n/* Font Definitions */\n"
            "@font-face {font-family:\"Cambria Math\"; panose-1:2 4 5 3 5 4 6 3 2 4;}\n"
            "p.MsoNormal, li.MsoNormal, div.MsoNormal {margin:0cm; font-size:11.0pt; "
            "font-family:\"Calibri\",sans-serif;}\n"
            "span.E-MailFormatvorlage17 {mso-style-type:personal-compose;}\n"
            "@page WordSection1 {size:612.0pt 792.0pt; margin:70.85pt 70.85pt 2.0cm 70.85pt;}\n"
            "div.WordSection1 {page:WordSection1;}\n--></style></head>\n"
            f"<body lang={lang} link=\"#0563C1\" vlink=\"#954F72\" style='word-wrap:break-word'>"
            f"<div class=WordSection1>\n<p class=MsoNormal>{logo_html}<o:p></o:p></p>\n{msobody}\n"
            f"<p class=MsoNormal><span style='font-size:8.0pt;color:gray'>{foot}<o:p></o:p></span></p>\n"
            "</div></body></html>\n")


def _paragraph_html(text: str) -> str:
    return "<p>" + html.escape(text).replace("\n", "<br>\n") + "</p>"


def compose(loc: Locale, spec: Spec, index: int, locales: dict[str, Locale]) -> Built:
    comp = Composer(loc, f"{loc.tag}/{index}/{spec.purpose}/{'+'.join(spec.inject)}")
    rng = comp.rng
    shop = loc.shops[index % len(loc.shops)]
    buyer = loc.buyers[rng.randrange(len(loc.buyers))]
    addr = loc.addresses[rng.randrange(len(loc.addresses))]
    carrier = loc.carriers[rng.randrange(len(loc.carriers))]
    tn = comp.pattern(carrier.number)
    tracking_url = carrier.url.replace("{tn}", tn)
    marketplace = spec.marketplace or loc.marketplace
    leading_zero = index % 2 == 0 or rng.random() < 0.3
    order = comp.order_id(leading_zero)
    pool = list(loc.products)
    if "hard-product" in spec.hard and loc.hard_products:
        items = [rng.choice(loc.hard_products), *rng.sample(pool, rng.randint(0, 2))]
    else:
        items = rng.sample(pool, rng.randint(1, 3))
    lines = [Line(sku=f"{shop.name[:2].upper()}-{rng.randint(10000, 99999)}",
                  ean=f"40{rng.randint(10**10, 10**11 - 1)}", name=n, qty=rng.choice((1, 1, 1, 2, 3)), price=p)
             for n, p in items]
    shipping = rng.choice((0.0, 0.0, 4.90, 5.95, 3.99)) if loc.lang != "ja" else rng.choice((0.0, 550.0, 800.0))
    total = sum(ln.price * ln.qty for ln in lines) + shipping
    invoice_no = f"{rng.choice(('RE', 'R', 'INV', 'F'))}-2026-{rng.randint(10000, 99999)}"
    code = rng.choice(("DANKE10", "HERBST20", "WELCOME5", "VIP15", "XMAS26", "SAVE10", "MERCI10", "GRAZIE15"))
    values = {
        "order": order, "shop": shop.name, "product": lines[0].name, "date": comp.date(0), "date2": comp.date(3),
        "carrier": carrier.name, "tn": tn, "invoice_no": invoice_no, "postcode": addr[1], "city": addr[2],
        "street": addr[0], "amount": loc.money(round(total * rng.choice((1.0, 0.5, 0.3)), 2)),
        "code": code, "domain": shop.domain, "domain_spelled": shop.domain.rsplit(".", 1)[0],
        "handle": shop.domain.split(".")[0].replace("-", "_"), "first": buyer[1], "last": buyer[2],
        "engraving": loc.words.get("engraving", "Anna & Jonas 12.06.2026"),
    }
    # --- the purpose text
    if spec.purpose == "reply":
        question, answer = loc.questions[index % len(loc.questions)]
        variant = Variant(f"{loc.reply_prefix} {loc.words.get('question_subject', 'Question')} {order}",
                          (answer,))
    else:
        options = loc.texts[spec.purpose]
        variant = options[index % len(options)]
        if ("label" in spec.attach or "proof" in spec.attach) and len(options) > 1:
            variant = options[1]  # the variant that says a return label / design proof is attached
        question = ""
    subject = _fill(variant.subject, values)
    paragraphs = [_fill(p, values) for p in variant.paragraphs]
    if paragraphs and loc.lang not in ("de", "it", "pl") and paragraphs[0][:1].islower():
        # German, Italian and Polish letters go on in lower case after "Hallo Anna,"; the others do not
        paragraphs[0] = paragraphs[0][0].upper() + paragraphs[0][1:]
    with_ean = "ean" in spec.hard
    # --- violations worked into the text
    extra: list[str] = []
    footer_extra: list[str] = []
    quoted_extra: list[str] = []
    kinds = set(spec.inject)
    for kind in spec.inject:
        key = {"contact-footer": None, "attachment-docx": None, "attachment-zip": None, "attachment-catalog": None,
               "keyword-misuse": None, "no-order-id": None, "opted-out": None, "tracking-pixel": None,
               "logo-link": None, "remote-image": None, "review-repeat": None, "order-confirmation": None,
               "shipping-confirmation": None, "thank-you": None, "out-of-stock": None, "promotion": None,
               "wrong-language": None, "optout-link": "optout", "messenger-line": "messenger-line"}.get(kind, kind)
        if key is None:
            continue
        choices = loc.snippets.get(key, ())
        if not choices:
            raise KeyError(f"{loc.tag}: no snippet for {key}")
        snippet = _fill(choices[index % len(choices)], values)
        if spec.reply == "fake":
            quoted_extra.append(snippet)
        elif kind == "emoji":
            if index % 3 == 0:
                subject = f"{subject} {snippet.split(' ')[-1]}"
            else:
                paragraphs.append(snippet)
        elif (kind in ("seller-phone", "seller-email") and rng.random() < 0.5) or (
                kind == "shop-link" and rng.random() < 0.4):
            footer_extra.append(snippet)
        else:
            extra.append(snippet)
    for hard in spec.hard:
        if hard in ("manufacturer-hotline", "carrier-phone"):
            found = loc.snippets.get(hard, ())
            if found:
                paragraphs.append(_fill(found[index % len(found)], values))
        elif hard == "tracking" and not any("[tracking]" in p for p in paragraphs):
            paragraphs.append(f"{carrier.name}: [tracking]")
    if "no-order-id" in kinds:
        subject = subject.replace(order, invoice_no)
        paragraphs = [p.replace(order, invoice_no) for p in paragraphs]
    if spec.keyword:
        # documented keywords where a source names one, else the gateway's default table (configurable;
        # AMAZON-RULES.md: not found for FR, IT, NL, PL, SE, TR)
        kw = loc.keyword or {"fr": "Important", "it": "Importante"}.get(loc.marketplace, "Important")
        subject = f"[{kw}] {subject}" if rng.random() < 0.7 else f"{subject} [{kw}]"
    paragraphs += extra
    drop_number = spec.purpose == "address-problem" and index % 3 == 0
    address_lines = _address(loc, buyer, addr, drop_number)
    salutation = _salutation(loc, comp, buyer)
    closing = rng.choice(loc.closings)
    footer = list(shop.legal) + footer_extra
    if "contact-footer" in kinds:
        footer = list(shop.contact) + footer
    # --- plain text
    table_text = _text_table(loc, lines, shipping, with_ean)

    def plain_blocks() -> list[str]:
        out = []
        for p in paragraphs:
            if p == "[table]":
                out.append(table_text)
            elif p == "[address]":
                out.append(f"{loc.words['ship_to']}:\n" + "\n".join(address_lines))
            else:
                out.append(p.replace("[tracking]", tracking_url))
        return out

    plain = salutation + "\n\n" + "\n\n".join(plain_blocks()) + f"\n\n{closing}\n{shop.signer}\n\n-- \n" + \
        "\n".join(footer) + "\n"
    # --- replies: the buyer's question (genuine) or the seller's own old text (fake) quoted below
    in_reply_to = references = None
    alias = comp.alias()
    to_addr = f"{alias}@marketplace.amazon.{marketplace}"
    if spec.reply == "genuine":
        token = f"{rng.getrandbits(64):016X}"
        amazon_id = (f"<0102019{rng.getrandbits(40):010x}-{rng.getrandbits(32):08x}-{rng.getrandbits(16):04x}-"
                     f"{rng.getrandbits(16):04x}-{rng.getrandbits(16):04x}-{rng.getrandbits(48):012x}-000000"
                     f"@eu-west-1.amazonses.com>")
        in_reply_to = references = amazon_id
        quoted = "\n".join("> " + q for q in question.split("\n"))
        plain += (f"\n{loc.quote_header}\n{loc.words.get('from', 'From')}: {buyer[1]} {buyer[2]} <{to_addr}>\n"
                  f"{quoted}\n\n[commMgrTok:{token}]\n")
    elif spec.reply == "fake":
        in_reply_to = references = f"<{rng.getrandbits(64):x}@{shop.domain}>"
        own_old = "\n".join("> " + q for q in quoted_extra)
        plain += f"\n{loc.quote_header}\n{loc.words.get('from', 'From')}: {shop.name}\n{own_old}\n"
        subject = f"{loc.reply_prefix} {subject}"
    # --- HTML
    logo_cid = f"logo_{rng.getrandbits(32):08x}@{shop.domain}"
    blocks = [f"<p>{html.escape(salutation)}</p>"]
    for p in paragraphs:
        if p == "[table]":
            blocks.append(_html_table(loc, lines, shipping, with_ean))
        elif p == "[address]":
            blocks.append(f"<p><b>{html.escape(loc.words['ship_to'])}</b><br>\n" +
                          "<br>\n".join(html.escape(a) for a in address_lines) + "</p>")
        elif "[tracking]" in p:
            before, _, after = p.partition("[tracking]")
            blocks.append(f"<p>{html.escape(before)}<a href=\"{html.escape(tracking_url)}\">"
                          f"{html.escape(loc.words['tracking'])}</a>{html.escape(after)}</p>")
        elif "https://" in p and "shop-link" in kinds:
            url = re.search(r"https://[^\s　]+", p).group(0).rstrip(".")  # type: ignore[union-attr]
            text = p.replace(url, "")
            blocks.append(f'<p>{html.escape(text)} <a href="{html.escape(url)}">{html.escape(shop.name)}</a></p>')
        else:
            blocks.append(_paragraph_html(p))
    blocks.append(f"<p>{html.escape(closing)}<br>\n{html.escape(shop.signer)}</p>")
    if spec.reply == "genuine":
        blocks.append(f"<div>{html.escape(loc.quote_header)}<br>\n<blockquote>"
                      f"{html.escape(question)}</blockquote></div>")
    elif spec.reply == "fake":
        blocks.append("<blockquote>" + "<br>\n".join(html.escape(q) for q in quoted_extra) + "</blockquote>")
    if "tracking-pixel" in kinds:
        blocks.append(f'<img src="https://mail.{shop.domain}/o/{rng.getrandbits(64):x}.gif?r={alias}" '
                      'width="1" height="1" alt="" style="display:block">')
    if "optout-link" in kinds and spec.fmt != "plain":
        blocks[-1] = blocks[-1]  # the phrase is in the text already; add the ERP's unsubscribe anchor too
        blocks.append(f'<p style="font-size:10px"><a href="https://www.{shop.domain}/newsletter/unsubscribe'
                      f'?id={rng.getrandbits(32):x}">{html.escape(loc.words.get("unsubscribe", "Unsubscribe"))}'
                      "</a></p>")
    # --- charsets, parts
    erp = shop.erp
    charset = _pick_charset(loc, rng, [plain, subject, "\n".join(blocks), "\n".join(footer)])
    style = 2 if erp == "Outlook" else index % 2
    html_doc = _html_doc(loc, shop, blocks, footer, spec.logo, logo_cid, charset, style)
    boundary = BOUNDARY_STYLES.get(erp, BOUNDARY_STYLES["Outlook"])
    plain_leaf = mime.Leaf("text/plain", text=plain, charset=charset, cte=_cte_for(charset, rng, False))
    html_leaf = mime.Leaf("text/html", text=html_doc, charset=charset, cte=_cte_for(charset, rng, True))
    body: mime.Leaf | mime.Multi
    html_part: mime.Leaf | mime.Multi = html_leaf
    if spec.logo in ("cid", "linked"):
        logo = mime.Leaf("image/png", data=mime.png_logo(), cte="base64", filename="logo.png",
                         disposition="inline", content_id=logo_cid)
        html_part = mime.Multi("related", [html_leaf, logo], boundary(rng), '; type="text/html"')
    if spec.fmt == "plain":
        body = plain_leaf
    elif spec.fmt == "html":
        body = html_part
    else:
        body = mime.Multi("alternative", [plain_leaf, html_part], boundary(rng))
    attachments = _attachments(loc, spec, shop, order, invoice_no, lines, shipping, total, address_lines, rng)
    if attachments:
        body = mime.Multi("mixed", [body, *attachments], boundary(rng))
    # --- headers
    sender = f"{shop.sender}@{shop.domain}"
    day = rng.randint(1, 28)
    hour, minute, sec = rng.randint(6, 21), rng.randint(0, 59), rng.randint(0, 59)
    weekday = ("Tue", "Wed", "Thu", "Fri", "Sat", "Sun", "Mon")[(day - 1) % 7]  # 1 Dec 2026 is a Tuesday
    tz = {"de": "+0100", "fr": "+0100", "it": "+0100", "es": "+0100", "nl": "+0100", "pl": "+0100",
          "se": "+0100", "co.uk": "+0000", "com": "-0500", "co.jp": "+0900", "com.tr": "+0300",
          "com.br": "-0300", "ae": "+0400"}.get(loc.marketplace, "+0000")
    headers = [
        ("From", mime.address(shop.name, sender, charset)),
        ("To", to_addr),
        ("Subject", mime.header_value(subject, charset)),
        ("Date", f"{weekday}, {day} Dec 2026 {hour:02d}:{minute:02d}:{sec:02d} {tz}"),
        ("Message-ID", f"<{rng.getrandbits(64):016x}.{rng.randint(1000, 99999)}@{shop.domain}>"),
    ]
    if in_reply_to:
        headers += [("In-Reply-To", in_reply_to), ("References", references or in_reply_to)]
    headers.append(("X-Mailer", MAILERS.get(erp, erp)))
    if rng.random() < 0.5:
        headers.append(("Content-Language", loc.tag))
    if spec.optout:
        headers.append(("X-Example-Alias-Status", f"{to_addr}=optout"))
    if "review-repeat" in kinds:
        headers.append(("X-Example-Review-Requests", f"{order}=1"))
    raw = mime.message(headers, body)
    name = f"{loc.tag.lower()}/{index:03d}-{spec.purpose}" + (f"-{'-'.join(spec.inject)}" if spec.inject else "")
    if spec.marketplace:
        name = f"{loc.tag.lower()}/{index:03d}-{spec.purpose}-to-{spec.marketplace}"
    label = expected_label(loc, spec, marketplace, subject)
    label["file"] = name + ".eml"
    label["erp"] = erp
    label["format"] = f"{spec.fmt}/{charset}/{plain_leaf.cte if spec.fmt != 'html' else html_leaf.cte}"
    label["order_id"] = order if "no-order-id" not in kinds else ""
    return Built(name + ".eml", raw, label)


def _attachments(loc: Locale, spec: Spec, shop: Shop, order: str, invoice_no: str, lines: list[Line],
                 shipping: float, total: float, address_lines: list[str], rng: random.Random) -> list[mime.Leaf]:
    out: list[mime.Leaf] = []
    w = loc.words
    for kind in spec.attach:
        if kind == "invoice":
            text = [f"{shop.name}", *shop.legal, "", f"{w['invoice']} {invoice_no}", f"{w['order']}: {order}", "",
                    *address_lines, ""]
            text += _text_table(loc, lines, shipping, False).split("\n")
            data = mime.pdf(f"{w['invoice']} {invoice_no}", text, author=f"{shop.erp}")
            out.append(mime.Leaf("application/pdf", data=data, cte="base64",
                                 filename=f"{w['attachment']}_{invoice_no}.pdf", disposition="attachment"))
        elif kind == "terms":
            data = mime.pdf(w["terms"].replace("_", " "), [f"{shop.name}", *shop.legal, "",
                                                            *(f"§ {i} ..." for i in range(1, 30))], author=shop.erp)
            out.append(mime.Leaf("application/pdf", data=data, cte="base64", filename=f"{w['terms']}.pdf",
                                 disposition="attachment"))
        elif kind == "label":
            data = mime.pdf(w["label"], [order, *address_lines, shop.name, *shop.legal[:1]], author=shop.erp)
            out.append(mime.Leaf("application/pdf", data=data, cte="base64", filename=f"{w['label']}_{order}.pdf",
                                 disposition="attachment"))
        elif kind == "proof":
            data = mime.pdf(w["proof"], [order, lines[0].name, "", "Text: ...", "Font: Garamond 24 pt"],
                            author=shop.erp)
            out.append(mime.Leaf("application/pdf", data=data, cte="base64", filename=f"{w['proof']}_{order}.pdf",
                                 disposition="attachment"))
        elif kind == "docx":
            # a real .docx is a zip with [Content_Types].xml first; enough of one for sniffing
            data = _zip({"[Content_Types].xml": b'<?xml version="1.0"?><Types/>', "word/document.xml":
                         f"<w:document><w:body><w:p>{invoice_no} {order}</w:p></w:body></w:document>".encode()})
            out.append(mime.Leaf("application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                                 data=data, cte="base64", filename=f"{w['attachment']}_{invoice_no}.docx",
                                 disposition="attachment"))
        elif kind == "zip":
            data = _zip({f"{w['attachment']}_{invoice_no}.pdf": mime.pdf(invoice_no, [order])})
            out.append(mime.Leaf("application/zip", data=data, cte="base64",
                                 filename=f"{w['attachment']}_{invoice_no}.zip", disposition="attachment"))
        elif kind == "catalog":
            data = mime.pdf(f"{shop.name} Katalog / Catalogue 2027",
                            [f"{ln.name}  {loc.money(ln.price * 0.8)}" for ln in lines] + [f"www.{shop.domain}"],
                            author=shop.erp)
            out.append(mime.Leaf("application/pdf", data=data, cte="base64", filename="Katalog_2027.pdf",
                                 disposition="attachment"))
    return out


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(2026, 12, 1, 9, 0, 0))
            zf.writestr(info, data)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# labels


def combine(options: list[tuple[str, ...]]) -> list[str]:
    """The overall actions allowed when each part allows ``options[i]``: the most severe of one pick each."""
    results = {max(pick, key=SEVERITY.__getitem__) for pick in itertools.product(*options)} if options else {"relay"}
    return sorted(results, key=lambda a: -SEVERITY[a])


def expected_label(loc: Locale, spec: Spec, marketplace: str, subject: str) -> dict[str, object]:
    critical = spec.purpose in CRITICAL_PURPOSES and spec.reply is None
    parts: list[tuple[str, ...]] = []
    rules: list[str] = []
    violations: list[str] = []
    if critical:
        rules.append("critical-content")
        if spec.keyword:
            parts.append(("relay",))
        else:
            rules.append("critical-keyword-missing")
            parts.append(("rewrite",))
    if spec.purpose == "review-request":
        rules.append("review-request")
    kinds = list(spec.inject)
    if spec.marketplace:
        kinds.append("wrong-language")
    for kind in kinds:
        r, acts = EXPECT[kind]
        violations.append(kind)
        for rule in r:
            if rule not in rules:
                rules.append(rule)
        parts.append(acts)
    if kinds and spec.reply == "fake":
        # the fake thread does not make it a reply: proactive rules still apply
        pass
    actions = combine(parts)
    why = spec.note or _why(spec, kinds, critical)
    label: dict[str, object] = {
        "action": "|".join(actions),
        "purpose": spec.purpose,
        "language": loc.lang,
        "marketplace": marketplace,
        "class": "violating" if violations else "benign",
        "critical": critical,
        "rules": rules,
        "violations": violations,
        "reply": spec.reply == "genuine",
        "why": why,
    }
    if critical and loc.keyword:
        label["keyword"] = loc.keyword
    return label


def _why(spec: Spec, kinds: list[str], critical: bool) -> str:
    bits = []
    if spec.reply == "genuine":
        bits.append("reply in a buyer-initiated thread (Amazon message id, thread token, buyer quoted)")
    elif spec.reply == "fake":
        bits.append("looks like a reply (threading on the seller's own domain) but the quoted text is the seller's")
    else:
        bits.append(f"proactive {spec.purpose}")
    if critical:
        bits.append("critical: keyword present" if spec.keyword else "critical: keyword must be added")
    if spec.hard:
        bits.append("hard benign detail: " + ", ".join(spec.hard))
    if spec.optout:
        bits.append("buyer opted out")
    if kinds:
        bits.append("violates: " + ", ".join(kinds))
    elif not critical and spec.purpose in BENIGN_PURPOSES:
        bits.append("permitted purpose, nothing forbidden")
    return "; ".join(bits)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


KEY_ORDER = ("file", "action", "purpose", "language", "marketplace", "class", "critical", "keyword", "reply",
             "rules", "violations", "order_id", "erp", "format", "why")


def labels_toml(labels: list[dict[str, object]], header: str) -> str:
    out = [header.rstrip() + "\n"]
    for label in labels:
        out.append("[[message]]")
        for key in KEY_ORDER:
            if key in label:
                out.append(f"{key} = {_toml_value(label[key])}")
        out.append("")
    return "\n".join(out)


HEADER = """\
# Labels of the generated corpus (written by `python -m tests.corpus.build`; do not edit by hand:
# change the recipes or template data in tests/corpus/ and re-run). Fields: see tests/corpus/README.md.
"""


def build_all() -> list[Built]:
    built: list[Built] = []
    for loc in ALL:
        size = SIZES.get(loc.tag, "mini")
        for i, spec in enumerate(recipe(size)):
            if spec.purpose == "reply" and not loc.questions:
                continue
            if "messenger" in spec.inject and "messenger-line" in loc.snippets:
                # where sellers offer LINE rather than WhatsApp (Japan), the messenger is LINE
                spec = replace(spec, inject=tuple("messenger-line" if k == "messenger" else k for k in spec.inject))
            built.append(compose(loc, spec, i, {}))
    by_tag = {loc.tag: loc for loc in ALL}
    for j, (tag, mp) in enumerate(WRONG_LANGUAGE):
        wrong = by_tag.get(tag)
        if wrong is None:
            continue
        purpose = ("invoice", "delivery-scheduling", "return", "review-request")[j % 4]
        spec = Spec(purpose, marketplace=mp, attach=("invoice",) if purpose == "invoice" else (),
                    fmt=("plain", "alt")[j % 2])
        built.append(compose(replace(wrong), spec, 900 + j, {}))
    return built


def main() -> None:
    built = build_all()
    if OUT.exists():
        shutil.rmtree(OUT)
    names = set()
    for b in built:
        if b.name in names:
            raise SystemExit(f"duplicate file name {b.name}")
        names.add(b.name)
        path = OUT / b.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b.raw)
    (OUT / "labels.toml").write_text(labels_toml([b.label for b in built], HEADER), encoding="utf-8")
    print(f"wrote {len(built)} messages to {OUT}")


if __name__ == "__main__":
    main()
