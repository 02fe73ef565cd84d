"""Learning from Amazon's verdicts: where the gateway relayed and Amazon refused.

Amazon tells the seller when it did not deliver a relayed message for a policy reason ("did not
meet the Buyer-Seller Messaging communication guidelines") and when it restricted the account's
proactive messaging. Bounce ingestion (gateway/bounces/ingest.py) hands such notices here:

* a ``policy`` notice is matched to the message the gateway relayed (by Message-ID, else by the
  order and the alias, else by the alias: the same correlation the opt-out registry uses) and
  recorded as a ``Disagreement`` beside what the gateway decided (verdict, hits, pack versions,
  template fingerprint). With ``[learning] hold_templates`` further messages of that template are
  held for review (gateway/pipeline/holds.py) until an admin marks the template fixed;
* a ``restriction`` notice puts the tenant into the restricted state: proactive mail is refused
  until an admin clears it, replies in buyer-initiated threads keep flowing.

What the gateway decided is kept for every relayed marketplace message (``relayed_message``,
called by the pipeline's record stage) as long as its relay records are.
"""

from __future__ import annotations

from gateway.learning.actions import clear_restriction, disagreement_report, fix_template, learning_counts
from gateway.learning.kinds import LEARNED_NOTICES, MAX_REASON, NO_PACK, POLICY, RESTRICTION, UNKNOWN_PACK
from gateway.learning.notices import Learned, Learner, NoticeAbout, NoticeFacts, notice_facts, notice_facts_of
from gateway.learning.relayed import PackIndex, pack_index, pack_version, record_relayed, relayed_message
from gateway.learning.state import HeldTemplate, LearnedState, TenantState, learned_state

__all__ = [
           "LEARNED_NOTICES",
           "MAX_REASON",
           "NO_PACK",
           "POLICY",
           "RESTRICTION",
           "UNKNOWN_PACK",
           "HeldTemplate",
           "Learned",
           "LearnedState",
           "Learner",
           "NoticeAbout",
           "NoticeFacts",
           "PackIndex",
           "TenantState",
           "clear_restriction",
           "disagreement_report",
           "fix_template",
           "learned_state",
           "learning_counts",
           "notice_facts",
           "notice_facts_of",
           "pack_index",
           "pack_version",
           "record_relayed",
           "relayed_message",
]
