"""One path for every message, whichever way it enters: SMTP, a quarantine release, release
recovery, or ``gateway check``.

A table of stages, in the spirit of Mailman 3's chains and Haraka's hook stages::

    classify -> evaluate -> repair -> shadow -> reserve -> store -> record -> notify

The verdict is made by the engine and the registered-sender check (``evaluate``), may be turned
into "relay as it came" by shadow mode, and becomes an effect only in ``store``: "defer, then
decide".

- ``entrances``: the ways in (``Entrance``) and what a release brings (``Release``).
- ``run``: one message's ``Run`` and the ``Services`` a stage may use.
- ``evaluate``: classify and evaluate; ``repair``: repair and shadow; ``reserve``: caps and
  per-order counters; ``store``: quarantine or spool (signing); ``record``: record and notify.
- ``runner``: the stage table (``STAGES``) and the ``Pipeline`` that runs it.
"""

from gateway.pipeline.entrances import Entrance, Release
from gateway.pipeline.evaluate import SENDER_NOT_REGISTERED
from gateway.pipeline.run import Run, utc_day
from gateway.pipeline.runner import STAGES, Pipeline, Stage

__all__ = ["SENDER_NOT_REGISTERED", "STAGES", "Entrance", "Pipeline", "Release", "Run", "Stage", "utc_day"]
