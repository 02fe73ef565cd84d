"""Bounce-back parsing: Amazon seller notices, RFC 3464 DSNs and vendor non-delivery reports."""

from gateway.bounces.parse import BouncedRecipient, BounceReport, parse_bounce

__all__ = ["BounceReport", "BouncedRecipient", "parse_bounce"]
