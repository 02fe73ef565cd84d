"""DKIM signing of what the gateway relays (RFC 6376), with dkimpy.

A subject rewrite or a repair changes a message after the seller's system may have signed it, which
breaks that signature. The gateway therefore signs what it relays itself, per sender domain (the
RFC 5322 From domain, which DMARC aligns with), with keys from files. A signature that claims the
same domain and was made before the gateway is removed first: after the gateway's change it could
only fail, and a failing signature of the seller's own domain hurts more than none.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from pathlib import Path
from typing import TYPE_CHECKING

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.errors import GatewayError

if TYPE_CHECKING:
    from gateway.config import DkimConfig

# RFC 6376 5.4.1's recommended set; dkimpy signs those of them the message has.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    "from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "mime-version",
    "content-type", "content-transfer-encoding", "content-id", "content-description", "in-reply-to",
    "references",
)

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"(?m)^(?=[^ \t\r\n])")
_D_TAG = re.compile(rb"(?i)(?:^|;)\s*d\s*=\s*([^;\s]+)")


class DkimError(GatewayError):
    """A DKIM key cannot be used (missing, unreadable or not an RSA private key)."""


@dataclass(frozen=True, slots=True)
class DkimKey:
    domain: str
    selector: str
    private_key: bytes
    """PEM, PKCS#1 or PKCS#8."""


@dataclass(frozen=True, slots=True)
class Signed:
    raw: bytes
    domain: str | None
    """The domain signed for; None when no key fits the message's From domain."""
    replaced: int = 0
    """How many earlier signatures of that domain were removed."""


def load_key(domain: str, selector: str, key_file: Path) -> DkimKey:
    try:
        pem = key_file.read_bytes()
    except OSError as exc:
        raise DkimError(f"dkim key for {domain}: cannot read {key_file}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DkimError(f"dkim key for {domain}: {key_file} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise DkimError(f"dkim key for {domain}: {key_file} is not an RSA key (only rsa-sha256 is supported)")
    if key.key_size < 1024:
        raise DkimError(f"dkim key for {domain}: {key_file} has {key.key_size} bits; receivers ignore keys under 1024")
    # dkimpy reads PKCS#1 ("RSA PRIVATE KEY"); normalise whatever the admin gave us to it.
    pkcs1 = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption())
    return DkimKey(domain=domain.lower().rstrip("."), selector=selector, private_key=pkcs1)


def generate_key(bits: int = 2048) -> bytes:
    """A new RSA private key as PKCS#1 PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def dns_record(key: DkimKey) -> tuple[str, str]:
    """(name, TXT value) to publish for ``key``."""
    private = serialization.load_pem_private_key(key.private_key, password=None)
    public = private.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return (f"{key.selector}._domainkey.{key.domain}",
            f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}")


def from_domain(raw: bytes) -> str | None:
    """The domain of the (first) From address, lower-cased; None without one."""
    block, _ = _split_head(raw)
    values = [field.split(b":", 1)[1] for field in _fields(block)
              if field.split(b":", 1)[0].strip().lower() == b"from" and b":" in field]
    if not values:
        return None
    text = b" ".join(re.sub(rb"\r?\n[ \t]", b" ", v) for v in values).decode("utf-8", "replace")
    for _, address in getaddresses([text]):
        if "@" in address:
            return address.rsplit("@", 1)[1].strip().lower().rstrip(".") or None
    return None


def _fields(block: bytes) -> list[bytes]:
    """The header block's fields, each with its folded continuation lines and line end."""
    starts = [m.start() for m in _FIELD_START.finditer(block)]
    return [block[a:b] for a, b in zip(starts, [*starts[1:], len(block)], strict=True)]


def _split_head(raw: bytes) -> tuple[bytes, bytes]:
    """(header block with every field's line end, the rest from the blank line on)."""
    head = _HEADER_END.search(raw)
    if head is None:
        return raw, b""
    cut = head.start() + (2 if raw[head.start():head.start() + 1] == b"\r" else 1)
    return raw[:cut], raw[cut:]


def remove_signatures(raw: bytes, domain: str) -> tuple[bytes, int]:
    """``raw`` without the DKIM-Signature fields whose ``d=`` is ``domain``, and how many went."""
    block, rest = _split_head(raw)
    kept: list[bytes] = []
    wanted = domain.encode().lower()
    for field in _fields(block):
        name, _, value = field.partition(b":")
        if name.strip().lower() == b"dkim-signature":
            d = _D_TAG.search(re.sub(rb"\r?\n[ \t]+", b" ", value))
            if d and d.group(1).lower().rstrip(b".") == wanted:
                continue
        kept.append(field)
    removed = len(_fields(block)) - len(kept)
    return (b"".join(kept) + rest, removed) if removed else (raw, 0)


class DkimSigner:
    """Signs a message for the configured domain that its From address belongs to."""

    @classmethod
    def from_config(cls, config: DkimConfig) -> DkimSigner | None:
        """The signer for ``[dkim]``, None when no key is configured; DkimError names a bad key file."""
        if not config.keys:
            return None
        keys = [load_key(k.domain, k.selector, k.key_file) for k in config.keys]
        return cls(keys, config.headers or DEFAULT_SIGNED_HEADERS)

    def __init__(self, keys: Iterable[DkimKey], headers: Iterable[str] = DEFAULT_SIGNED_HEADERS) -> None:
        self._keys: Mapping[str, DkimKey] = {k.domain: k for k in keys}
        self._headers = tuple(h.lower().encode() for h in headers)

    @property
    def domains(self) -> tuple[str, ...]:
        return tuple(sorted(self._keys))

    def key_for(self, domain: str) -> DkimKey | None:
        """The key of ``domain`` or of its closest parent (DMARC's relaxed alignment)."""
        labels = domain.split(".")
        for i in range(len(labels) - 1):
            key = self._keys.get(".".join(labels[i:]))
            if key is not None:
                return key
        return None

    def sign(self, raw: bytes) -> Signed:
        domain = from_domain(raw)
        key = self.key_for(domain) if domain else None
        if key is None:
            return Signed(raw=raw, domain=None)
        raw, replaced = remove_signatures(raw, key.domain)
        present = {f.split(b":", 1)[0].strip().lower() for f in _fields(_split_head(raw)[0])}
        include = [h for h in self._headers if h in present]
        if b"from" not in include:
            include.insert(0, b"from")
        linesep = b"\r\n" if b"\r\n" in raw[:2000] else b"\n"
        header = dkim.sign(raw, key.selector.encode(), key.domain.encode(), key.private_key,
                           canonicalize=(b"relaxed", b"relaxed"), include_headers=include, linesep=linesep)
        return Signed(raw=header + raw, domain=key.domain, replaced=replaced)

