"""The pipeline on a real SQLite store and spool, with a small rule pack written for these tests.

Every entrance runs the same stages: SMTP, a quarantine release, release recovery and
``gateway check``. These tests drive ``Pipeline.run`` and ``QuarantineReview`` directly (the SMTP
and admin API paths are in tests/e2e/test_release.py).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway import replies
from gateway.app import policy_loader
from gateway.cli.check import check_message
from gateway.config import GatewayConfig, config_from_mapping
from gateway.errors import ReviewError
from gateway.outcome import Cause, Disposition, Outcome
from gateway.pipeline import Entrance, Pipeline
from gateway.policy.state import PolicyState
from gateway.policy.verdict import Action, Verdict
from gateway.quarantine import QuarantineReview, tenants_from
from gateway.spool import Spool
from gateway.store.base import REVIEW_COUNTER
from gateway.store.sqlite import SQLiteStore
from gateway.tenants import PolicyEvaluator, TenantDirectory
from gateway.transaction import Transaction

ALIAS = "k3x9q2mzt7@marketplace.amazon.com"
ORDER = "302-4817265-9034712"
SELLER = "seller@shop.example"

PACK = """
[pack]
description = "A small pack for the pipeline tests."

[[rules]]
id = "review-request"
description = "Asks for a review (counted per order)."
action = "relay"
tags = ["review-request"]
reason = "Asks for a review"
[[rules.match]]
type = "phrases"
phrases.en = ["leave a review"]

[[rules]]
id = "review-request-repeat"
description = "One review request per order."
action = "reject"
reason = "Order {order_id} already had its one review request"
[[rules.match]]
type = "check"
check = "review-request-repeat"
params = { limit = 1 }

[[rules]]
id = "off-platform"
description = "Moves the buyer off the marketplace."
action = "quarantine"
reason = "Asks the buyer to write on WhatsApp"
[[rules.match]]
type = "phrases"
phrases.en = ["whatsapp"]

[[rules]]
id = "promotion"
description = "A discount code."
action = "reject"
reason = "Offers a discount code"
[[rules.match]]
type = "phrases"
phrases.en = ["discount code"]

[[rules]]
id = "critical-content"
description = "Delivery scheduling."
action = "relay"
tags = ["critical"]
reason = "Critical content"
[[rules.match]]
type = "phrases"
phrases.en = ["delivery appointment"]

[[rules]]
id = "critical-keyword-missing"
description = "Adds the keyword to critical mail."
action = "rewrite"
rewrite = "add-keyword"
reason = "{keyword} added"
[[rules.match]]
type = "check"
check = "critical-keyword-missing"

[[rules]]
id = "critical-keyword-misused"
description = "Removes the keyword from anything else."
action = "quarantine"
rewrite = "remove-keyword"
reason = "The keyword {evidence} is only for critical messages"
[[rules.match]]
type = "check"
check = "critical-keyword-misused"
"""


def mail(subject: str, body: str, sender: str = SELLER, to: str = ALIAS, message_id: str = "") -> bytes:
    mid = message_id or f"<{abs(hash((subject, body)))}@shop.example>"
    return (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {mid}\r\n\r\n{body}\r\n").encode()


def txn(data: bytes, sender: str = SELLER, to: str = ALIAS, tenant: str = "") -> Transaction:
    return Transaction(peer="127.0.0.1", mail_from=sender, rcpt_tos=[to], data=data, tenant=tenant)


@dataclass
class World:
    config: GatewayConfig
    store: SQLiteStore
    spool: Spool
    tenants: TenantDirectory
    pipeline: Pipeline
    notified: list[int]

    async def smtp(self, data: bytes, sender: str = SELLER, tenant: str = "") -> Outcome:
        outcome = await self.pipeline.run(txn(data, sender, tenant=tenant), self.tenants.get(tenant), Entrance.SMTP)
        await self.pipeline.drain()
        return outcome

    def review(self) -> QuarantineReview:
        return QuarantineReview(self.config, self.store, self.spool, tenants_from(lambda: self.tenants),
                                instance="test-instance")

    async def spooled_subject(self, queue_id: str) -> str:
        message = await self.spool.load(queue_id)
        assert message is not None
        line = next(ln for ln in message.data.split(b"\r\n") if ln.lower().startswith(b"subject:"))
        return line.decode().split(":", 1)[1].strip()


async def make_world(tmp_path: Path, **sections: Any) -> World:
    packs = tmp_path / "packs"
    packs.mkdir(exist_ok=True)
    (packs / "test.toml").write_text(PACK, encoding="utf-8")
    data: dict[str, Any] = {"state": {"directory": str(tmp_path / "state")},
                            "policy": {"packs_dir": str(packs)}, "log": {"level": "warning"}}
    for name, values in sections.items():
        if isinstance(values, dict):
            data.setdefault(name, {}).update(values)
        else:
            data[name] = values
    config = config_from_mapping(data)
    store = await SQLiteStore(config.state_dir).open()
    spool = await Spool.open(config.state_dir / "spool", handoff=False)
    notified: list[int] = []
    tenants = TenantDirectory(config, policy_loader(config))
    pipeline = Pipeline(config, store, spool, lambda: notified.append(1))
    return World(config, store, spool, tenants, pipeline, notified)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path)
    yield w
    await w.spool.close()
    await w.store.close()


TENANTS = [{"id": "shop", "sender_domains": ["shop.example"], "senders": {"com": [SELLER]},
            "daily_caps": {"com": 1}}]


@pytest.fixture
async def capped(tmp_path: Path) -> AsyncIterator[World]:
    w = await make_world(tmp_path, tenants=TENANTS)
    yield w
    await w.spool.close()
    await w.store.close()


# -- SMTP ---------------------------------------------------------------------------------------------

async def test_relay_is_queued_recorded_with_its_order_and_delivery_told(world: World) -> None:
    writer = world.spool._writer
    before = (writer.passes, world.spool.commits, world.store.commits)
    outcome = await world.smtp(mail(f"Your order {ORDER}", f"Your order {ORDER} has shipped."))
    # The records went with the put: one pass of the writer, one commit to each database.
    assert writer.passes - before[0] == 1
    assert (world.spool.commits - before[1], world.store.commits - before[2]) == (1, 1)
    assert outcome.disposition is Disposition.QUEUED and outcome.queue_id
    assert replies.smtp_reply(outcome) == f"250 2.0.0 Ok: queued as {outcome.queue_id}"
    assert [s.stage for s in outcome.stages] == ["classify", "evaluate", "repair", "shadow", "reserve", "store",
                                                 "record"]
    assert world.notified == [1]
    assert await world.store.relays_by_order(ORDER, "com", 0) == [(ALIAS, "com")]
    [decision] = await world.store.decisions()
    assert (decision.ref, decision.action, decision.rules) == (outcome.queue_id, "relay", ())


async def test_reject_is_refused_with_the_rule_in_the_reply_and_recorded(world: World) -> None:
    outcome = await world.smtp(mail(f"Order {ORDER}", "Use discount code SAVE10 next time."))
    assert outcome.disposition is Disposition.REFUSED and outcome.cause is Cause.POLICY
    assert outcome.decided_by == ("evaluate", "store")
    reply = replies.smtp_reply(outcome)
    assert reply.startswith("550-5.7.1") and "promotion" in reply
    assert await world.spool.depth() == 0 and world.notified == []
    [decision] = await world.store.decisions()
    assert (decision.ref, decision.action, decision.rules) == ("", "reject", ("promotion",))


async def test_quarantine_is_held_and_recorded(world: World) -> None:
    outcome = await world.smtp(mail(f"Order {ORDER}", "Write me on WhatsApp."))
    assert outcome.disposition is Disposition.HELD and outcome.quarantine_id
    assert replies.smtp_reply(outcome) == f"250 2.0.0 Ok: held for review as {outcome.quarantine_id}"
    record = await world.store.get_quarantine(outcome.quarantine_id)
    assert record is not None and record.status == "held"
    assert [h["rule"] for h in record.verdict["hits"]] == ["off-platform"]


async def test_second_review_request_for_an_order_is_refused(world: World) -> None:
    first = await world.smtp(mail(f"Order {ORDER}", f"Please leave a review for {ORDER}."))
    assert first.disposition is Disposition.QUEUED
    assert await world.store.order_counter(ORDER, REVIEW_COUNTER) == 1
    second = await world.smtp(mail(f"Order {ORDER}", f"Could you leave a review for {ORDER}?"))
    assert second.disposition is Disposition.REFUSED
    assert "review-request-repeat" in [h.rule for h in second.verdict.hits]


class BarrierEngine:
    """The real engine, but every evaluation waits until ``parties`` of them have read the state:
    two messages for one order evaluated at the very same moment, deterministically."""

    def __init__(self, engine: PolicyEvaluator, parties: int) -> None:
        self.engine = engine
        self.barrier = threading.Barrier(parties, timeout=10)

    def evaluate(self, raw: bytes, recipients: Sequence[Any], state: PolicyState | None = None) -> Verdict:
        verdict = self.engine.evaluate(raw, recipients, state)
        self.barrier.wait()
        return verdict

    def apply(self, raw: bytes, verdict: Verdict) -> bytes:
        return self.engine.apply(raw, verdict)


async def test_a_lost_reservation_names_the_rule_that_set_the_limit(tmp_path: Path) -> None:
    w = await make_world(tmp_path)
    try:
        engine = w.tenants.default.policy
        assert engine is not None
        tenant = w.tenants.default
        racing = type(tenant)(id="", policy=BarrierEngine(engine, 2), shadow=False, upstream=tenant.upstream,
                              senders={}, daily_caps={})
        outcomes = await asyncio.gather(*(
            w.pipeline.run(txn(mail(f"Order {ORDER}", f"Please leave a review for {ORDER}.", message_id=f"<{i}@x>")),
                           racing) for i in range(2)))
        await w.pipeline.drain()
        assert sorted(o.disposition for o in outcomes) == [Disposition.QUEUED, Disposition.REFUSED]
        lost = next(o for o in outcomes if o.disposition is Disposition.REFUSED)
        assert lost.cause is Cause.ORDER_COUNTER and "reserve" in lost.decided_by
        assert lost.verdict.hits[-1].rule == "review-request-repeat"  # from the verdict's data, not a constant
        assert "review-request-repeat" in replies.smtp_reply(lost)
        assert await w.store.order_counter(ORDER, REVIEW_COUNTER) == 1
    finally:
        await w.spool.close()
        await w.store.close()


async def test_critical_mail_is_rewritten_and_counted(world: World) -> None:
    outcome = await world.smtp(mail(f"Order {ORDER}", "Which delivery appointment suits you?"))
    assert outcome.disposition is Disposition.QUEUED and outcome.verdict.action is Action.REWRITE
    assert await world.spooled_subject(outcome.queue_id) == f"[Important] Order {ORDER}"
    assert await world.store.order_counter(ORDER, "critical") == 1  # every tag is counted per order


async def test_shadow_mode_queues_as_it_came_and_records_what_would_have_happened(tmp_path: Path) -> None:
    w = await make_world(tmp_path, policy={"shadow": True})
    try:
        outcome = await w.smtp(mail(f"Order {ORDER}", "Write me on WhatsApp."))
        assert outcome.disposition is Disposition.QUEUED and outcome.shadow
        assert outcome.verdict.action is Action.QUARANTINE  # the decision that was not applied
        assert outcome.decided_by == ("evaluate", "shadow")
        [decision] = await w.store.decisions()
        assert decision.shadow and decision.action == "quarantine"
    finally:
        await w.spool.close()
        await w.store.close()


async def test_daily_cap_defers_and_check_reads_it_without_reserving(capped: World) -> None:
    first = await capped.smtp(mail(f"Order {ORDER}", "Your parcel has shipped."), tenant="shop")
    assert first.disposition is Disposition.QUEUED
    second = await capped.smtp(mail(f"Order {ORDER}", "Another note."), tenant="shop")
    assert second.disposition is Disposition.DEFERRED and second.cause is Cause.DAILY_CAP
    assert replies.smtp_reply(second).startswith("452 4.7.1 Daily cap of 1 ")
    checked, tenant = await check_message(capped.config, capped.tenants, mail(f"Order {ORDER}", "A third."),
                                          [ALIAS], mail_from=SELLER)
    assert tenant == "shop"
    assert checked.disposition is Disposition.DEFERRED and checked.cause is Cause.DAILY_CAP
    day = next(iter({s.detail for s in first.stages if s.stage == "reserve"}))
    assert "daily cap com" in day
    from gateway.pipeline import utc_day

    assert await capped.store.sends("shop", "com", utc_day()) == 1  # the check reserved nothing


async def test_check_writes_nothing(world: World) -> None:
    data = mail(f"Order {ORDER}", f"Please leave a review for {ORDER}.")
    outcome, _ = await check_message(world.config, world.tenants, data, [ALIAS])
    assert outcome.disposition is Disposition.QUEUED and not outcome.queue_id
    assert "record" not in [s.stage for s in outcome.stages]
    assert await world.store.order_counter(ORDER, REVIEW_COUNTER) == 0
    assert await world.spool.depth() == 0
    assert await world.store.decisions() == []


async def test_registered_sender_check_is_part_of_evaluate(capped: World) -> None:
    outcome = await capped.smtp(mail(f"Order {ORDER}", "Shipped.", sender="marketing@shop.example"), tenant="shop")
    assert outcome.disposition is Disposition.REFUSED
    assert [h.rule for h in outcome.verdict.hits] == ["sender-not-registered"]
    assert outcome.decided_by == ("evaluate", "store")


# -- release ------------------------------------------------------------------------------------------

async def hold(w: World, data: bytes, tenant: str = "") -> str:
    outcome = await w.smtp(data, tenant=tenant)
    assert outcome.disposition is Disposition.HELD, outcome
    return outcome.quarantine_id


async def test_released_review_request_counts_against_its_order(world: World) -> None:
    qid = await hold(world, mail(f"Order {ORDER}", f"Please leave a review for {ORDER}, or write on WhatsApp."))
    review = world.review()
    result = await review.release(qid, actor="alice", reason="buyer asked for the number", force=True)
    assert result.outcome is not None and result.outcome.disposition is Disposition.QUEUED
    assert await world.store.order_counter(ORDER, REVIEW_COUNTER) == 1
    # Its relay record carries its order ids: a notice naming only the order finds the alias.
    assert await world.store.relays_by_order(ORDER, "com", 0) == [(ALIAS, "com")]
    released = [d for d in await world.store.decisions() if d.ref == result.queue_id]
    assert [d.rules for d in released] == [("review-request", "off-platform")]
    second = await world.smtp(mail(f"Order {ORDER}", f"Please leave a review for {ORDER}."))
    assert second.disposition is Disposition.REFUSED
    assert "review-request-repeat" in [h.rule for h in second.verdict.hits]


async def test_a_second_review_request_cannot_be_released_even_forced(world: World) -> None:
    first = await hold(world, mail(f"Order {ORDER}", f"Please leave a review for {ORDER} on WhatsApp."))
    qid = await hold(world, mail(f"Re {ORDER}", f"Please leave a review for {ORDER}, WhatsApp me."))
    await world.review().release(first, actor="alice", reason="ok", force=True)
    # Force overrides the engine's verdict (its review-request-repeat hit too), never the count.
    with pytest.raises(ReviewError) as refused:
        await world.review().release(qid, actor="alice", reason="try anyway", force=True)
    assert refused.value.code == "still-violating" and "review-request-repeat" in str(refused.value)
    record = await world.store.get_quarantine(qid)
    assert record is not None and record.status == "held"


async def test_forced_release_of_a_keyword_misuse_relays_without_the_keyword(world: World) -> None:
    qid = await hold(world, mail(f"[Important] Your invoice {ORDER}", "Your invoice is attached."))
    with pytest.raises(ReviewError) as still:
        await world.review().release(qid, actor="alice", reason="")
    assert still.value.code == "still-violating"
    result = await world.review().release(qid, actor="alice", reason="invoice must go out", force=True)
    assert await world.spooled_subject(result.queue_id) == f"Your invoice {ORDER}"
    [decision] = [d for d in await world.store.decisions() if d.ref == result.queue_id]
    assert decision.action == "rewrite" and decision.rules == ("critical-keyword-misused",)


async def test_release_passes_the_sender_check_and_the_daily_cap(capped: World) -> None:
    qid = await hold(capped, mail(f"Order {ORDER}", "Write me on WhatsApp."), tenant="shop")
    # The cap is used up by a message relayed meanwhile: the release waits for tomorrow.
    assert (await capped.smtp(mail(f"Order {ORDER}", "Shipped."), tenant="shop")).accepted
    with pytest.raises(ReviewError) as capped_out:
        await capped.review().release(qid, actor="alice", reason="ok", force=True)
    assert (capped_out.value.code, capped_out.value.status) == ("daily-cap", 429)
    # The sender is no longer registered (the config changed since it was held): refused, even forced.
    config = config_from_mapping({**capped.config.model_dump(mode="json"), "tenants": [
        {**TENANTS[0], "senders": {"com": ["orders@shop.example"]}, "daily_caps": {}}]})
    capped.tenants = TenantDirectory(config, policy_loader(config))
    with pytest.raises(ReviewError) as unregistered:
        await capped.review().release(qid, actor="alice", reason="ok", force=True)
    assert unregistered.value.code == "still-violating" and "sender-not-registered" in str(unregistered.value)
    record = await capped.store.get_quarantine(qid)
    assert record is not None and record.status == "held"


async def test_recovery_runs_the_pipeline_with_the_rewrite(world: World) -> None:
    qid = await hold(world, mail(f"[Important] Invoice {ORDER}", f"Invoice for {ORDER}."))
    assert await world.store.claim_quarantine(qid, "released", "alice", "forced: ok", instance="test-instance")
    finished = await world.review().recover_releases(older_than=-1)
    assert finished == [qid]
    record = await world.store.get_quarantine(qid)
    assert record is not None and record.status == "released"
    queue_id = await world.spool.find_by_meta("quarantine_id", qid)
    assert queue_id is not None
    assert await world.spooled_subject(queue_id) == f"Invoice {ORDER}"
    assert await world.store.relays_by_order(ORDER, "com", 0) == [(ALIAS, "com")]


async def test_sqlite_store_failures_arrive_as_store_error(tmp_path: Path) -> None:
    from gateway.errors import StoreError

    store = await SQLiteStore(tmp_path / "state").open()
    await store.close()
    reopened = SQLiteStore(tmp_path / "state")
    (tmp_path / "state" / "gateway.db").write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError):
        await reopened.open()
