"""Built-in checks, registered by name in ``CHECKS`` (see ``registry``); importing this package
registers all of them."""

from gateway.policy.checks import contact, content, links, state
from gateway.policy.checks.registry import CHECKS, Check, CheckFn, check

__all__ = ["CHECKS", "Check", "CheckFn", "check", "contact", "content", "links", "state"]
