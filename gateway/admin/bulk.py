"""Release or delete many held messages with one reason.

Each message goes through the same path as a single action (``QuarantineReview.release`` /
``delete``): its own re-check, its own exactly-once claim and audit record. A few run at a time,
so a thousand re-checks neither stall the admin's request for long nor crowd out SMTP sessions.
One message refused (still violating, already released by someone else) does not stop the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.log import get_logger
from gateway.quarantine import QuarantineReview, ReviewError

log = get_logger("gateway.admin.bulk")

BulkAction = Literal["release", "delete"]
CONCURRENCY = 4


@dataclass
class BulkResult:
    action: str
    done: list[str] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"action": self.action, "done": self.done, "refused": self.refused,
                "counts": {"done": len(self.done), "refused": len(self.refused)}}

    def summary(self) -> str:
        verb = "released" if self.action == "release" else "deleted"
        text = f"{len(self.done)} {verb}"
        if self.refused:
            reasons: dict[str, int] = {}
            for item in self.refused:
                reasons[item["error"]] = reasons.get(item["error"], 0) + 1
            text += f", {len(self.refused)} refused (" + ", ".join(f"{n} {e}" for e, n in sorted(reasons.items())) + ")"
        return text + "."


async def bulk(review: QuarantineReview, action: BulkAction, ids: Sequence[str], *, actor: str, reason: str,
               force: bool = False) -> BulkResult:
    if action not in ("release", "delete"):
        raise ReviewError("bad-action", "action must be release or delete", status=400)
    if force and not reason.strip():
        raise ReviewError("reason-required", "a forced release needs a reason", status=400)
    result = BulkResult(action)
    slots = asyncio.Semaphore(CONCURRENCY)
    outcomes: dict[str, ReviewError | None] = {}

    async def one(qid: str) -> None:
        async with slots:
            try:
                if action == "release":
                    await review.release(qid, actor=actor, reason=reason, force=force)
                else:
                    await review.delete(qid, actor=actor, reason=reason)
            except ReviewError as exc:
                outcomes[qid] = exc
            else:
                outcomes[qid] = None

    unique = list(dict.fromkeys(ids))
    await asyncio.gather(*(one(qid) for qid in unique))
    for qid in unique:
        error = outcomes.get(qid)
        if error is None:
            result.done.append(qid)
        else:
            result.refused.append({"id": qid, "error": error.code, "message": str(error)})
    log.info("quarantine_bulk", action=action, actor=actor, reason=reason, forced=force,
             done=len(result.done), refused=len(result.refused))
    return result
