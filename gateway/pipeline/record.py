"""The stages after a decision: ``record`` (log every decision; record it, and a relay with its
order ids and per-order counts, in the store) and ``notify`` (wake delivery for what was queued).

On SQLite the records of a message to be spooled are written with its put: the store stage takes
them along (``records_after_put``), and the writer commits them right after the put, in the same
pass, only if the put committed; the record stage then waits for them as it would for its own."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from gateway.errors import StoreError
from gateway.group_commit import Write
from gateway.learning import record_relayed
from gateway.log import get_logger
from gateway.orderids import order_ids_in_message
from gateway.outcome import Disposition
from gateway.pipeline.run import Run, Services
from gateway.policy.verdict import Verdict
from gateway.store.sqlite import SQLiteStore

log = get_logger("gateway.pipeline")


async def record(p: Services, run: Run) -> None:
    outcome = run.outcome
    assert outcome is not None
    if outcome.disposition is Disposition.DEFERRED or (
            run.release is not None and outcome.disposition is not Disposition.QUEUED):
        # Nothing happened to the message: the sender retries, or it stays held.
        return
    decided = run.shadow_of or run.verdict
    shadow = run.shadow_of is not None
    ref = outcome.queue_id or outcome.quarantine_id
    _log_decision(p, run, decided, ref, shadow)
    if not run.recipients or p.store is None:
        return
    if outcome.disposition is not Disposition.QUEUED:
        await _record_decision(p, run, decided, ref, shadow)
        return
    counters = _counters(run)
    records = _after_put(run, ref) if run.after_put else _record_relay(p, run, decided, ref, counters, shadow,
                                                                       retry=not counters)
    if counters:
        # A stateful rule reads this count: it is durable before the client hears 250.
        await records
    else:
        # Correlation records need not hold up the reply (the message itself is already
        # durable); drain() waits for them.
        p.in_background(records)
    run.note("record", "passed", "decision and relay recorded" + (f", counted {', '.join(counters)}"
                                                                     if counters else ""))


async def records_after_put(p: Services, run: Run, queue_id: str) -> list[Write]:
    """The records of a message about to be spooled as ``queue_id``, collected (not written) for
    its put to take along (``Spool.put(then=...)``); none unless the store is SQLite and the order
    ids are known without reading the message (the record stage then writes them after the put)."""
    store = p.store
    if not isinstance(store, SQLiteStore) or not run.recipients or not (run.verdict.order_ids or run.order_ids_read):
        return []
    with store.collecting() as writes:
        await _record_relay(p, run, run.shadow_of or run.verdict, queue_id, _counters(run), run.shadow_of is not None,
                            collected=True)
    for write in writes:  # a put that fails fails them: nobody awaits them then
        write.future.add_done_callback(_retrieved)
    run.after_put = writes
    return writes


def _retrieved(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def _after_put(run: Run, queue_id: str) -> None:
    try:
        await asyncio.gather(*(w.future for w in run.after_put))
    except Exception:
        log.exception("relay_record_failed", queue_id=queue_id, message_id=run.txn.message_id)


def _counters(run: Run) -> list[str]:
    # Every tag is counted per order (the verdict's facts the store keeps count of), unless
    # the reservation counted it already.
    reserved_tags = {tag for _, tag in run.reserved}
    return sorted(t for t in run.verdict.tags if t not in reserved_tags)


def _log_decision(p: Services, run: Run, verdict: Verdict, ref: str, shadow: bool) -> None:
    txn = run.txn
    if p.metrics is not None:
        p.metrics.observe_decision(verdict, run.recipients[0].marketplace if run.recipients else None,
                                   shadow, run.tenant.id)
    # One name per id across the log: a held message's quarantine id, a spooled one's queue id
    # (as delivery.* and quarantine_* events call them); a refused message has neither.
    outcome = run.outcome
    held = outcome is not None and outcome.disposition is Disposition.HELD
    log.info(
        "decision", queue_id=None if held else (ref or None), quarantine_id=ref if held else None,
        tenant=run.tenant.id, shadow=shadow, entrance=str(run.entrance),
        message_id=txn.message_id, peer=txn.peer, auth_user=txn.auth_user, mail_from=txn.mail_from,
        rcpt_tos=txn.rcpt_tos, size=txn.size, marketplace=verdict.marketplace,
        action=f"would-{verdict.action}" if shadow else str(verdict.action), critical=verdict.critical,
        reply=verdict.reply, hits=[h.as_json() for h in verdict.hits],
        released_by=run.release.actor if run.release is not None else None)


async def _record_decision(p: Services, run: Run, verdict: Verdict, ref: str, shadow: bool) -> None:
    assert p.store is not None
    txn = run.txn
    await p.store.record_decision(ref, txn.message_id, txn.peer, txn.mail_from, txn.rcpt_tos,
                                  verdict.marketplace, str(verdict.action), [h.rule for h in verdict.hits],
                                  tenant=run.tenant.id, shadow=shadow)


async def _record_relay(p: Services, run: Run, decided: Verdict, queue_id: str, counters: list[str],
                        shadow: bool, collected: bool = False, retry: bool = False) -> None:
    """Recorded after the message is safe in the spool: a failure loses a correlation record,
    never the message. ``collected``: the store only collects the writes (each returns at once),
    so they need no tasks of their own. ``retry`` (written after the reply): a write the state
    database refused is tried again for ``RECORD_RETRY_FOR`` seconds (PostgreSQL restarting)."""
    assert p.store is not None
    txn = run.txn
    try:
        # The engine's order ids when it ran; without one, read them from the message
        # ourselves, so an opt-out notice that names only the order still finds the alias.
        order_ids = run.verdict.order_ids
        if not order_ids and not run.order_ids_read:
            order_ids = await asyncio.to_thread(order_ids_in_message, run.data)
        store = p.store
        # They land in the same group commit.
        writes: tuple[Callable[[], Awaitable[None]], ...] = (
            lambda: store.record_relay(queue_id, txn.message_id, [(r.alias, r.marketplace) for r in run.recipients],
                                       order_ids, run.verdict.tags, counters, tenant=run.tenant.id),
            lambda: _record_decision(p, run, decided, queue_id, shadow),
            # What was decided, for an Amazon notice refusing it (gateway/learning.py).
            lambda: record_relayed(store, queue_id=queue_id, message_id=txn.message_id, tenant=run.tenant.id,
                                   verdict=decided, shadow=shadow, aliases=[r.alias for r in run.recipients],
                                   order_ids=order_ids, policy=run.tenant.policy))
        if collected:
            for write in writes:
                await write()
        else:
            await _written(writes, queue_id, txn.message_id, RECORD_RETRY_FOR if retry else 0.0)
    except Exception:
        log.exception("relay_record_failed", queue_id=queue_id, message_id=txn.message_id)


RECORD_RETRY_FOR = 120.0
"""How long a relay record written after the reply is retried while the state database refuses it
(each write is its own transaction: only the failed ones are written again)."""


async def _written(writes: Sequence[Callable[[], Awaitable[None]]], queue_id: str, message_id: str,
                   retry_for: float) -> None:
    pending = list(writes)
    deadline = time.monotonic() + retry_for
    delay = 0.5
    while True:
        results = await asyncio.gather(*(write() for write in pending), return_exceptions=True)
        failed = [(w, r) for w, r in zip(pending, results, strict=True) if isinstance(r, BaseException)]
        if not failed:
            return
        first = failed[0][1]
        if not all(isinstance(r, StoreError) for _w, r in failed) or time.monotonic() + delay > deadline:
            raise first
        log.warning("relay_record_retry", queue_id=queue_id, message_id=message_id, error=str(first),
                    retry_in=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 15.0)
        pending = [w for w, _r in failed]


async def notify(p: Services, run: Run) -> None:
    if run.outcome is not None and run.outcome.disposition is Disposition.QUEUED and p.notify is not None:
        p.notify()
