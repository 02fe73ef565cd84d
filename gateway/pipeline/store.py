"""The ``store`` stage: where a verdict becomes an effect. A refusal stores nothing; a hold goes to
the quarantine; a relay (rewritten and DKIM-signed as needed) goes to the spool, a release only
after it has claimed its quarantined message."""

from __future__ import annotations

import asyncio

from gateway.errors import StoreError
from gateway.log import get_logger
from gateway.outcome import Cause, Disposition
from gateway.pipeline.entrances import Entrance
from gateway.pipeline.record import records_after_put
from gateway.pipeline.reserve import release_reservations
from gateway.pipeline.run import Run, Services
from gateway.policy.verdict import Action
from gateway.spool import SpoolCorrupt, SpoolError, new_queue_id
from gateway.tenants import PolicyEvaluator

log = get_logger("gateway.pipeline")


async def store(p: Services, run: Run) -> None:
    action = run.verdict.action
    if action is Action.REJECT:
        run.finish(Disposition.REFUSED, Cause.POLICY, "store", "refused: not stored")
        return
    if action is Action.QUARANTINE and run.entrance is not Entrance.SMTP:
        if run.entrance is Entrance.CHECK:
            run.finish(Disposition.HELD, Cause.POLICY, "store", "would be held for review")
        else:  # a release the re-check still holds: it stays where it is
            run.finish(Disposition.REFUSED, Cause.POLICY, "store", "the re-check still holds it")
        return
    if action is Action.QUARANTINE:
        await _quarantine(p, run)
        return
    if action is Action.REWRITE:
        policy: PolicyEvaluator | None = run.tenant.policy
        if policy is not None:
            run.data = await asyncio.to_thread(policy.apply, run.txn.data, run.verdict)
        elif run.release is not None:
            run.data = _replace_subject(run.txn.data, run.verdict.subject)
    if run.entrance is Entrance.CHECK:
        run.finish(Disposition.QUEUED, Cause.ACCEPTED, "store", "would be queued")
        return
    await _spool(p, run)


async def _quarantine(p: Services, run: Run) -> None:
    from gateway.message.mime import header_text  # (raw UTF-8 kept, where str() has U+FFFD)

    txn, verdict = run.txn, run.verdict
    assert p.store is not None
    try:
        qid = await p.store.quarantine(
            txn.data, peer=txn.peer, mail_from=txn.mail_from, rcpt_tos=txn.rcpt_tos,
            message_id=txn.message_id, subject=header_text(txn.headers, "Subject"),
            marketplace=verdict.marketplace, verdict=verdict.as_json(), tenant=run.tenant.id)
    except (StoreError, OSError) as exc:
        log.error("quarantine_store_failed", error=str(exc), message_id=txn.message_id)
        run.finish(Disposition.DEFERRED, Cause.STORAGE, "store", f"quarantine failed: {exc}")
        return
    run.finish(Disposition.HELD, Cause.POLICY, "store", f"held as {qid}", quarantine_id=qid)


async def _spool(p: Services, run: Run) -> None:
    txn, verdict, release = run.txn, run.verdict, run.release
    assert p.spool is not None and p.store is not None
    meta = {"message_id": txn.message_id, "peer": txn.peer, "action": str(verdict.action),
            "marketplace": verdict.marketplace, "tenant": run.tenant.id}
    if release is not None:
        meta.update(action="release", quarantine_id=release.quarantine_id, released_by=release.actor)
    if run.entrance is Entrance.RELEASE:
        assert release is not None
        why = release.reason.strip() or "re-check passed"
        if release.force:
            why = f"forced: {why}"
        if not await p.store.claim_quarantine(release.quarantine_id, "released", release.actor, why,
                                              instance=release.instance):
            await release_reservations(p, run)
            run.finish(Disposition.REFUSED, Cause.NOT_HELD, "store",
                       f"{release.quarantine_id} was released or deleted by someone else")
            return
    await _sign(p, run)
    queue_id = txn.queue_id or new_queue_id()
    # Its relay record and decision commit right after it, in the same pass of the writer.
    then = await records_after_put(p, run, queue_id)
    try:
        queue_id = await p.spool.put(txn.mail_from, txn.rcpt_tos, run.data, meta, queue_id=queue_id, then=then)
    except (SpoolError, ValueError) as exc:
        log.error("spool_failed", error=str(exc), message_id=txn.message_id, peer=txn.peer,
                  entrance=str(run.entrance))
        await release_reservations(p, run)
        if run.entrance is Entrance.RELEASE:
            assert release is not None
            await p.store.unclaim_quarantine(release.quarantine_id, release.actor, f"spool refused: {exc}")
        damaged = {"spool_damaged": "yes"} if isinstance(exc, SpoolCorrupt) else {}
        run.finish(Disposition.DEFERRED, Cause.STORAGE, "store", f"spool refused: {exc}",
                   facts={"error": str(exc), **damaged})
        return
    if release is not None:
        # From here the spool has it: a crash before the next line is repaired by release
        # recovery finding the message in the spool, not by spooling it twice.
        await p.store.mark_release_spooled(release.quarantine_id, queue_id)
    run.finish(Disposition.QUEUED, Cause.ACCEPTED, "store", f"queued as {queue_id}", queue_id=queue_id)


async def _sign(p: Services, run: Run) -> None:
    """DKIM-sign what is relayed, for the From domain's key: a subject rewrite (or a repair)
    breaks a signature made before the gateway, so the gateway's replaces it."""
    signer = p.signer
    if signer is None or (p.config.dkim.sign == "changed" and run.data == run.txn.data):
        return
    signed = await asyncio.to_thread(signer.sign, run.data)
    if signed.domain is None:
        run.note("sign", "skipped", "no DKIM key for the From domain")
        return
    run.data = signed.raw
    run.note("sign", "changed", f"DKIM d={signed.domain}"
             + (f", replaced {signed.replaced} earlier signature(s)" if signed.replaced else ""))


def _replace_subject(raw: bytes, subject: str) -> bytes:
    from gateway.message.mime import replace_subject

    return replace_subject(raw, subject)
