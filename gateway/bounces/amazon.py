"""Amazon seller notices (stub)."""
from __future__ import annotations

from dataclasses import dataclass

from gateway.bounces.message import Mail
from gateway.bounces.parse import BouncedRecipient


@dataclass(frozen=True, slots=True)
class Notice:
    notice: str
    order_id: str | None
    marketplace: str | None
    alias: str | None
    language: str | None
    recipients: tuple[BouncedRecipient, ...]


def parse_notice(mail: Mail) -> Notice | None:
    return None
