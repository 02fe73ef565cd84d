"""One failed recipient from the evidence a report gives: address, status, diagnostic, verdicts.

Order of verdicts (see the header of policies/bounces/reasons.toml): the vendor's own verdict
(``hint``) when its class is not tentative, then the remote host's (rhosts.toml), then the generic
classes with the vendor's tentative verdict as a starting point.
"""

from __future__ import annotations

import gateway.bounces.providers as providers
import gateway.bounces.reasons as reasons
from gateway.bounces.report import BouncedRecipient


def make_recipient(address: str, status: str | None, diagnostic: str, action: str = "",
                   hint: str | None = None, original: str | None = None,
                   temporary: bool = False, dtype: str = "", vague: bool = False,
                   context: str = "", rhost: str = "") -> BouncedRecipient:
    if status is None:
        status = reasons.find_status(diagnostic)
    reason: str | None = None
    if not (hint and hint not in reasons.rules().tentative):
        reply = reasons.find_reply(diagnostic[:reasons.MAX_TEXT])
        reason = providers.rhost_verdict(providers.remote_host_in(rhost, diagnostic),
                                         address.rpartition("@")[2], diagnostic, status, reply)
    if reason is None:
        reason = reasons.classify(status, diagnostic, action, hint, dtype=dtype, vague=vague, context=context)
    temporary = temporary or (status or "").startswith("4") or action.lower() == "delayed"
    return BouncedRecipient(address=address, reason=reason,
                            status=reasons.status_for(reason, status, temporary),
                            diagnostic=" ".join(diagnostic.split())[:1000], action=action or "failed",
                            original_recipient=original if original and original != address else None)
