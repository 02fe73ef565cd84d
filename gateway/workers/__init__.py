"""Several worker processes on one set of listening sockets: ``[server] workers`` > 1.

The process that ``gateway serve`` starts becomes the *supervisor*. It binds every SMTP listening
socket itself (the submission port, the implicit-TLS port, the bounce port), before any worker
exists, and starts ``[server] workers`` children (``python -m gateway worker``) that inherit those
sockets (prefork with an inherited socket: one accept queue, shared; the kernel hands each new
connection to whichever worker's event loop accepts it first, so a busy worker takes fewer). Each
worker runs SMTP sessions and the whole pipeline (classify, evaluate, repair, reserve, store,
record) on the shared state: the spool's SQLite file and the state database (or PostgreSQL), both
of which serialise writers across processes (SQLite: WAL, ``BEGIN IMMEDIATE``, one writer at a
time), so caps and per-order counters stay exact; a 250 still waits for the fsync'd spool commit.

What must run once runs in the supervisor: delivery (one DeliveryService, holding the spool's
delivery lock; a worker tells it over its control channel that it queued a message, and it looks
in the spool at once), the admin HTTP server and ``/metrics``, IMAP bounce polling and release
recovery. The supervisor also holds the PID file, so ``gateway reload`` and systemd signal it:

- a worker that dies is started again (after ``RESTART_DELAY``, longer when it keeps dying at
  start); the listening sockets stay open in the supervisor and the other workers, so no
  connection waiting in the accept queue is lost, and whatever a dead worker acknowledged is in
  the spool, which the supervisor's delivery reads;
- SIGTERM goes to every worker (each drains its sessions: 421 to new ones, open ones finish),
  then delivery finishes its in-flight attempts and the supervisor exits;
- SIGHUP: the supervisor reloads and validates the configuration, then sends the same one to every
  worker over its control channel (a restarted worker starts with it, too);
- systemd hears READY=1 only when every worker listens.

Metrics are *aggregated*: a scrape asks every worker for its exposition and adds the ``gateway_*``
counters and histograms of all processes up (a dead worker's last figures are kept, so a counter
never goes down because a worker was restarted); gauges take the largest value; ``process_*`` are
the supervisor's own. ``gateway_workers`` (running) and ``gateway_worker_restarts_total`` say how
the workers fare.

The control channel is a Unix socket pair, one JSON object per line (``q`` alone: "queued a
message"). A worker whose channel reaches end of file (its supervisor is gone, however it died)
drains and exits; it also asks the kernel for SIGTERM when its parent dies.
"""

from __future__ import annotations

from gateway.workers.child import run_worker
from gateway.workers.merged_metrics import counter_values, merge_expositions
from gateway.workers.process import WorkerProcess
from gateway.workers.sockets import bind, bind_listeners, bound_port, close_sockets, parse_listen
from gateway.workers.supervisor import Supervisor, WorkerStartFailed

__all__ = ["Supervisor", "WorkerProcess", "WorkerStartFailed", "bind", "bind_listeners", "bound_port",
           "close_sockets", "counter_values", "merge_expositions", "parse_listen", "run_worker"]
