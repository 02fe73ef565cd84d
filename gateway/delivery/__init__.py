"""Delivery: relay spooled messages to the upstream over pooled connections, with retries and DSNs.

``service`` schedules and records attempts, ``attempt`` runs one (SMTP or Maildir), ``pool``
keeps upstream connections, ``outcome`` says what replies mean, ``lock`` keeps it to one service
per spool. See docs/spool-and-delivery.md.
"""

from gateway.delivery.lock import DeliveryAlreadyRunning
from gateway.delivery.outcome import backoff
from gateway.delivery.service import DeliveryService

__all__ = ["DeliveryAlreadyRunning", "DeliveryService", "backoff"]
