"""The durable spool (see ``durable_queue``): what a 250 promises is on disk until delivered.

``writer`` is how its batches commit (on the process's one writer, gateway/group_commit.py),
``handoff`` hands fresh puts to delivery in memory, ``space`` keeps room for delivery, ``integrity``
checks and salvages, ``marker`` notices a vanished spool, ``errors`` is the exception tree. See
docs/spool-and-delivery.md.
"""

from gateway.spool.durable_queue import DB_NAME, Spool
from gateway.spool.errors import SpoolCorrupt, SpoolError, SpoolFull, SpoolMissing
from gateway.spool.records import (
    EntryInfo,
    NewMessage,
    RecipientResult,
    RecipientState,
    SpooledMessage,
    check_data,
    new_queue_id,
)

_check_data = check_data  # the name tests have used

__all__ = ["DB_NAME", "EntryInfo", "NewMessage", "RecipientResult", "RecipientState", "Spool",
           "SpoolCorrupt", "SpoolError", "SpoolFull", "SpoolMissing", "SpooledMessage", "check_data",
           "new_queue_id"]
