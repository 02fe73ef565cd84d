"""Mail addresses in report text: one bounded pattern, so a scan stays linear on address-free text."""

from __future__ import annotations

import re

# Bounded repetitions keep the scan linear on long address-free text. A local part is a dot-atom
# or an RFC 5321 quoted string ("neko..nyaan"@example.org); a quoted display name followed by a
# space ("Name" <a@b>) is not one, since the quote must be followed by the "@".
ADDR = (r"(?:\"(?:[^\"\\\r\n]|\\.){1,64}\"|[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64})"
        r"@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?")
ADDRESS_RE = re.compile(ADDR)


def address_in(value: str) -> str | None:
    """The mail address in a field value such as ``rfc822; <a@b>`` or ``"Name" <a@b>``."""
    value = value.strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    m = ADDRESS_RE.search(value)
    return m.group(0).strip(".").lower() if m else None
