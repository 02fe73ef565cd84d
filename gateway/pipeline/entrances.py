"""The ways into the pipeline, and what a quarantine release brings along.

- ``smtp``: all the stages.
- ``release``: no shadow (an admin's release is never a dry run); ``store`` claims the quarantined
  message exactly once before spooling it. ``force`` overrides the engine's verdict, never its
  rewrite (a held keyword misuse is relayed without the keyword), and never the registered-sender
  check, the daily caps or the per-order counters: Amazon enforces those whatever we decide.
- ``recovery``: a release claimed earlier and never spooled (the process died in between); the
  release was approved then, so it runs as a forced release. Its reservations were taken by the
  run that died, so ``reserve`` does not take them again (per-order counts are still recorded).
- ``check``: ``gateway check``; caps and counters are read, not reserved, nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Entrance(StrEnum):
    SMTP = "smtp"
    RELEASE = "release"
    RECOVERY = "recovery"
    CHECK = "check"


ALL = frozenset(Entrance)
WRITING = frozenset({Entrance.SMTP, Entrance.RELEASE, Entrance.RECOVERY})
"""The entrances that store and record (all but ``check``)."""


@dataclass(frozen=True)
class Release:
    """A quarantined message on its way out: who releases it, why, and what it was held with."""

    quarantine_id: str
    actor: str
    reason: str
    force: bool = False
    instance: str = ""
    """The instance claiming it (see ``Store.claim_quarantine``)."""
    held_verdict: Mapping[str, Any] = field(default_factory=dict)
    """The verdict it was held with (its ``subject`` is the rewrite, for a release without an engine)."""
