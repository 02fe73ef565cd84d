"""Build test messages in memory (bytes), the way mail clients and ERPs write them."""

from __future__ import annotations

import email.charset
import email.header
import email.policy
from email import encoders
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from gateway.classify import Classifier, MarketplaceRecipient
from gateway.config import DEFAULT_MARKETPLACE_TLDS

ORDER = "302-4817265-9034712"
ALIAS_DE = "b7d3kq9xz2m4np5@marketplace.amazon.de"
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cf00000301010018dd8db40000000049454e44ae426082"
)


def text_part(body: str, subtype: str = "plain", cte: str = "base64", charset: str = "utf-8") -> MIMEText:
    cs = email.charset.Charset(charset)
    cs.body_encoding = {"base64": email.charset.BASE64, "qp": email.charset.QP}.get(cte, 0)
    return MIMEText(body, subtype, cs)  # type: ignore[arg-type]  # typeshed: str only; Charset works


def attachment(name: str, data: bytes, ctype: str = "application/octet-stream") -> MIMEBase:
    main, sub = ctype.split("/")
    part = MIMEBase(main, sub)
    part.set_payload(data)
    encoders.encode_base64(part)
    part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def message(
    subject: str,
    body: str = "",
    *,
    html: str | None = None,
    to: str = ALIAS_DE,
    headers: dict[str, str] | None = None,
    attachments: tuple[MIMEBase, ...] = (),
    cte: str = "base64",
) -> bytes:
    text = text_part(body, cte=cte)
    part: MIMEBase = text
    if html is not None:
        alt = MIMEMultipart("alternative")
        alt.attach(text)
        alt.attach(text_part(html, "html", cte=cte))
        part = alt
    if attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(part)
        for att in attachments:
            mixed.attach(att)
        part = mixed
    part["From"] = "service@mustermann-handel.example"
    part["To"] = to
    part["Subject"] = subject if subject.isascii() else email.header.Header(subject, "utf-8")  # type: ignore[assignment]
    for key, value in (headers or {}).items():
        part[key] = value
    return part.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n"))


def recipients(*addresses: str) -> list[MarketplaceRecipient]:
    return Classifier(DEFAULT_MARKETPLACE_TLDS).marketplace_recipients(list(addresses or [ALIAS_DE]))

# One alias per marketplace, for tests that judge a line as each marketplace's buyer would get it.
ALIASES = {
    "de": "b7d3kq9xz2m4np5@marketplace.amazon.de", "fr": "q9bv3kd7zx2mtnc@marketplace.amazon.fr",
    "it": "n2kd8vxq4tz7rbp@marketplace.amazon.it", "es": "k4mz8dq2vb7xnpt@marketplace.amazon.es",
    "nl": "p8vz3kq7dm2xbnc@marketplace.amazon.nl", "pl": "t2kq9vb4zx7mdnp@marketplace.amazon.pl",
    "se": "x7mq2kd9vb3ztnp@marketplace.amazon.se", "com.tr": "z3vq8kd2mb7xtnp@marketplace.amazon.com.tr",
    "co.jp": "m9kd3vq7zb2xtnp@marketplace.amazon.co.jp", "com": "v3kd9fxq2pn8mzc@marketplace.amazon.com",
    "co.uk": "v3kd9fxq2pn8mzc@marketplace.amazon.co.uk",
}
