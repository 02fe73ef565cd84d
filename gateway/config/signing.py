"""``[dkim]``: the keys relayed mail is signed with, per sender domain."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from gateway.config.base import Section


class DkimKeyConfig(Section):
    domain: Annotated[str, Field(min_length=3, pattern=r"^[A-Za-z0-9.-]+$")]
    selector: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9._-]+$")]
    key_file: Path


class DkimConfig(Section):
    """DKIM signing of relayed mail, per sender (From) domain; see ``gateway dkim keygen``."""

    keys: tuple[DkimKeyConfig, ...] = ()
    # Sign every relayed message whose From domain has a key, or only those the gateway changed
    # (subject rewrite, repair): an unchanged message keeps the seller's own signature intact.
    sign: Literal["always", "changed"] = "always"
    headers: tuple[str, ...] = ()
    """Header fields to sign; empty: RFC 6376's recommended set."""

    @field_validator("keys")
    @classmethod
    def _one_key_per_domain(cls, value: tuple[DkimKeyConfig, ...]) -> tuple[DkimKeyConfig, ...]:
        seen: set[str] = set()
        for key in value:
            domain = key.domain.lower().rstrip(".")
            if domain in seen:
                raise ValueError(f"two keys for {domain}: one signing key per domain")
            seen.add(domain)
        return value

